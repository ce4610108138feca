package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// TestBrowseE2E (#14): the real server, the real agent, the real restic.
// Two snapshots of a tree whose big/ folder holds 10,000 files; the
// older one alone has docs/only-old.txt. One server and agent for all the
// subtests: browse big/ page by page, search, diff, replies from another
// host or for an unknown request dropped, then the host offline.
func TestBrowseE2E(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "browse-1")
	src := filepath.Join(e.dir, "src")
	for _, d := range []string{"big", "docs"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10000 {
		if err := os.WriteFile(filepath.Join(src, "big", fmt.Sprintf("f%05d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("docs/only-old.txt", "old")
	write("docs/notes.txt", "v1")
	e.startAgent()
	if j := e.setReadyRepository(filepath.Join(e.dir, "repo"), repoPassword); j.Status != "succeeded" {
		t.Fatalf("init: %+v", j)
	}
	backup := func() string {
		j := e.waitJob(e.runJob(map[string]any{"kind": "backup", "paths": []string{src}}), 2*time.Minute)
		if j.Status != "succeeded" || j.SnapshotID == "" {
			t.Fatalf("backup: %+v\n%s", j, e.agentLogs())
		}
		return j.SnapshotID
	}
	older := backup()
	if err := os.Remove(filepath.Join(src, "docs", "only-old.txt")); err != nil {
		t.Fatal(err)
	}
	write("docs/new.txt", "new")
	write("docs/notes.txt", "v2, longer")
	newer := backup()
	base := "/api/v1/hosts/" + e.hostID + "/snapshots"

	t.Run("a folder of 10,000 files, paged", func(t *testing.T) {
		var first, last, past topics.TreePage
		if code := e.api().do("GET", base+"/"+newer+"/tree?path="+src+"/big", nil, &first); code != http.StatusOK {
			t.Fatalf("page 0: HTTP %d", code)
		}
		if first.Total != 10000 || len(first.Entries) != topics.TreePageSize || first.Entries[0].Name != "f00000" ||
			first.Entries[0].Type != "file" || first.Truncated {
			t.Fatalf("page 0: total %d, %d entries, first %+v", first.Total, len(first.Entries), first.Entries[0])
		}
		if code := e.api().do("GET", base+"/"+newer+"/tree?path="+src+"/big&page=19", nil, &last); code != http.StatusOK {
			t.Fatalf("page 19: HTTP %d", code)
		}
		if len(last.Entries) != topics.TreePageSize || last.Entries[len(last.Entries)-1].Name != "f09999" || last.Page != 19 {
			t.Fatalf("last page: %d entries, ending %+v", len(last.Entries), last.Entries[len(last.Entries)-1])
		}
		if code := e.api().do("GET", base+"/"+newer+"/tree?path="+src+"/big&page=20", nil, &past); code != http.StatusOK ||
			len(past.Entries) != 0 || past.Total != 10000 {
			t.Fatalf("past the end: HTTP %d, %+v", code, past)
		}
		var root topics.TreePage
		if code := e.api().do("GET", base+"/latest/tree?path="+src, nil, &root); code != http.StatusOK || root.Total != 2 ||
			root.Entries[0].Name != "big" || root.Entries[1].Name != "docs" {
			t.Fatalf("the tree's root: HTTP %d, %+v", code, root)
		}
	})

	t.Run("search finds a file only the older snapshot has", func(t *testing.T) {
		var found topics.FindResult
		if code := e.api().do("GET", base+"/find?pattern=only-old.txt", nil, &found); code != http.StatusOK {
			t.Fatalf("find: HTTP %d", code)
		}
		if len(found.Matches) != 1 || found.Matches[0].Snapshot != older || found.Matches[0].Path != src+"/docs/only-old.txt" {
			t.Fatalf("find = %+v, want only-old.txt in %s only", found, older)
		}
	})

	t.Run("diff shows added, removed and changed", func(t *testing.T) {
		var d topics.DiffResult
		if code := e.api().do("GET", base+"/"+older+"/diff/"+newer, nil, &d); code != http.StatusOK {
			t.Fatalf("diff: HTTP %d", code)
		}
		got := map[string]string{}
		for _, c := range d.Changes {
			got[strings.TrimPrefix(c.Path, src)] = c.Modifier
		}
		if got["/docs/new.txt"] != "+" || got["/docs/only-old.txt"] != "-" || got["/docs/notes.txt"] != "M" || d.Stats == nil ||
			d.Stats.Added.Files != 1 || d.Stats.Removed.Files != 1 {
			t.Fatalf("diff = %v, stats %+v", got, d.Stats)
		}
	})

	t.Run("replies from another host or to no request are dropped", func(t *testing.T) {
		forged := forgerClient(t, e)
		before := e.m.Service().Stats().RejectedBy()
		// Each query to the real host draws a forged answer from the other
		// host, sent as soon as the query is published, ahead of the agent's.
		if err := e.m.Broker().Subscribe(topics.QueryTopic(e.hostID), func(m broker.Message) {
			var q topics.Query
			if topics.Decode(m.Payload, &q) == nil {
				go forged.reply(q.ID, q.Op)
			}
		}); err != nil {
			t.Fatal(err)
		}
		forged.reply(topics.NewMessageID(), topics.QueryLs) // a request nobody made
		var page topics.TreePage
		if code := e.api().do("GET", base+"/"+newer+"/tree?path="+src+"/docs", nil, &page); code != http.StatusOK ||
			page.Total != 2 || page.Entries[0].Name != "new.txt" {
			t.Fatalf("tree with a forger about: HTTP %d, %+v; want the real docs folder", code, page)
		}
		waitFor(t, "both forged replies rejected", 10*time.Second, func() bool {
			after := e.m.Service().Stats().RejectedBy()
			foreign := after["reply from another host than the one asked"] - before["reply from another host than the one asked"]
			unknown := after["reply to an unknown or finished request"] - before["reply to an unknown or finished request"]
			return foreign+unknown >= 2 && unknown >= 1
		})
	})

	t.Run("an offline host answers at once", func(t *testing.T) {
		e.agent.stop(syscall.SIGTERM)
		waitFor(t, "host offline", 30*time.Second, func() bool {
			var h hostJSON
			return e.api().do("GET", "/api/v1/hosts/"+e.hostID, nil, &h) == http.StatusOK && !h.Online
		})
		var refusal struct{ Error, Message string }
		start := time.Now()
		code := e.api().doRaw("GET", base+"/"+newer+"/tree?path=/", nil, &refusal)
		if code != http.StatusConflict || refusal.Error != string(server.CodeHostOffline) || !strings.Contains(refusal.Message, "offline") {
			t.Fatalf("offline: HTTP %d %+v, want 409 host_offline", code, refusal)
		}
		if took := time.Since(start); took >= topics.DefaultQueryTimeout {
			t.Fatalf("the offline answer took %s: it waited for a reply", took)
		}
	})
}

// forger is another enrolled host's MQTT connection, publishing replies
// on its own up/reply.
type forger struct {
	t    *testing.T
	host string
	c    mqtt.Client
	mu   sync.Mutex
}

// forgerClient enrolls a second host and connects it over MQTTS.
func forgerClient(t *testing.T, e *jobEnv) *forger {
	t.Helper()
	svc := e.m.Service()
	tok, _, err := svc.CreateEnrollmentToken(t.Context(), server.CLIActor(), "forger", 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Enroll(t.Context(), server.EnrollRequest{Token: tok, Hostname: "forger", OS: "linux", Arch: "amd64", AgentVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.m.TLS().CACertPEM)
	opts := mqtt.NewClientOptions().AddBroker("ssl://" + e.m.Broker().TLSAddr().String()).
		SetClientID(res.HostID).SetUsername(res.HostID).SetPassword(res.MQTTPassword).
		SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}).SetAutoReconnect(false)
	c := mqtt.NewClient(opts)
	if tk := c.Connect(); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("forger connect: %v", tk.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return &forger{t: t, host: res.HostID, c: c}
}

// reply publishes a reply to request with a made-up folder.
func (f *forger) reply(request string, op topics.QueryOp) {
	r := &topics.Reply{Envelope: topics.NewEnvelope(topics.TypeReply, f.host), Request: request, Op: op,
		Tree: &topics.TreePage{Path: "/", PageSize: topics.TreePageSize, Total: 1, Entries: []topics.TreeEntry{{Name: "forged", Type: "file"}}}}
	b, err := topics.Encode(r)
	if err != nil {
		f.t.Error(err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if tk := f.c.Publish(topics.ReplyTopic(f.host), 1, false, b); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		f.t.Errorf("forged reply: %v", tk.Error())
	}
}
