package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/topics"
)

// queryClient plays the server's side of queries on the real broker.
type queryClient struct {
	t       *testing.T
	host    string
	b       *testBroker
	replies *collector
}

func newQueryClient(t *testing.T, e *jobEnv) *queryClient {
	c := &queryClient{t: t, host: e.h.id, b: e.b, replies: newCollector()}
	c.replies.watch(t, e.b, topics.ReplyTopic(e.h.id))
	return c
}

// send publishes q (filling its envelope) and returns its request id.
func (c *queryClient) send(q topics.Query) string {
	c.t.Helper()
	q.Envelope = topics.NewEnvelope(topics.TypeQuery, c.host)
	if q.TimeoutMS == 0 {
		q.TimeoutMS = 30000
	}
	data, err := topics.Encode(&q)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.b.Publish(topics.QueryTopic(c.host), data, false, 1); err != nil {
		c.t.Fatal(err)
	}
	return q.ID
}

// wait returns the reply to request id.
func (c *queryClient) wait(id string) *topics.Reply {
	c.t.Helper()
	var r topics.Reply
	c.replies.waitFor(c.t, "the reply to "+id, func(m broker.Message) bool {
		var got topics.Reply
		if topics.DecodeFrom(m.Payload, c.host, &got) != nil || got.Request != id {
			return false
		}
		r = got
		return true
	})
	return &r
}

func (c *queryClient) ask(q topics.Query) *topics.Reply { return c.wait(c.send(q)) }

// TestQueriesBesideABackup: with the real restic, while a slow backup
// runs, the agent lists a folder of 1,203 entries page by page (folders
// first, by name), says a missing folder is not found, finds a file that
// exists only in the older snapshot and diffs the two snapshots; none of
// it waits for the backup.
func TestQueriesBesideABackup(t *testing.T) {
	e := newJobEnv(t)
	e.startConfigured()
	qc := newQueryClient(t, e)

	src := t.TempDir()
	for i := range 1200 {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%04d.txt", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"zeta", "alpha", "mid"} {
		if err := os.Mkdir(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "alpha", "only-old.pdf"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	first := e.srv.waitTerminal(e.srv.run(backupSpec(src), 1))
	if first.State != topics.JobSucceeded {
		t.Fatalf("first backup: %+v", first)
	}
	if err := os.Remove(filepath.Join(src, "alpha", "only-old.pdf")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "new.txt"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := e.srv.waitTerminal(e.srv.run(backupSpec(src), 1))
	// A backup that runs for seconds (1 MiB at 256 KiB/s) and holds the
	// job queue and restic's non-exclusive lock: a listing does not wait.
	slow := e.srv.run(slowBackupSpec(newSource(t, 2, 1<<20)), 1)
	e.srv.waitState(slow, topics.JobRunning)
	ls := func(path string, page int) *topics.Reply {
		return qc.ask(topics.Query{Op: topics.QueryLs, Snapshot: second.Result.SnapshotID, Path: path, Page: page})
	}
	p0 := ls(src, 0)
	if ev := e.srv.jobEvents(slow); ev[len(ev)-1].State.Terminal() {
		t.Errorf("the slow backup ended (%s) before the listing was answered: it did not run beside it", ev[len(ev)-1].State)
	}
	if p0.Error != "" || p0.Tree == nil {
		t.Fatalf("page 0: %+v", p0)
	}
	if p0.Tree.Total != 1204 || len(p0.Tree.Entries) != topics.TreePageSize || p0.Tree.Truncated {
		t.Fatalf("page 0: total %d, %d entries, truncated %v; want 1204 and a full page", p0.Tree.Total, len(p0.Tree.Entries), p0.Tree.Truncated)
	}
	var firstNames []string
	for _, en := range p0.Tree.Entries[:4] {
		firstNames = append(firstNames, en.Type+":"+en.Name)
	}
	if got := strings.Join(firstNames, " "); got != "dir:alpha dir:mid dir:zeta file:f0000.txt" {
		t.Errorf("page 0 starts with %s, want the folders by name, then the files", got)
	}
	last := ls(src, 2)
	if last.Tree == nil || len(last.Tree.Entries) != 204 || last.Tree.Entries[203].Name != "new.txt" {
		t.Fatalf("page 2: %+v, want the last 204 entries ending with new.txt", last.Tree)
	}
	if past := ls(src, 3); past.Tree == nil || len(past.Tree.Entries) != 0 || past.Tree.Total != 1204 {
		t.Fatalf("page 3: %+v, want no entries of 1204", past.Tree)
	}
	if missing := ls(src+"/nope", 0); missing.ErrorKind != topics.ReplyErrNotFound {
		t.Fatalf("a missing folder: %+v, want not_found", missing)
	}

	found := qc.ask(topics.Query{Op: topics.QueryFind, Pattern: "only-old.pdf"})
	if found.Find == nil || len(found.Find.Matches) != 1 || found.Find.Matches[0].Snapshot != first.Result.SnapshotID ||
		found.Find.Matches[0].Path != src+"/alpha/only-old.pdf" {
		t.Fatalf("find: %+v, want the file in the first snapshot only", found.Find)
	}
	d := qc.ask(topics.Query{Op: topics.QueryDiff, Snapshot: first.Result.SnapshotID, SnapshotTo: second.Result.SnapshotID})
	if d.Diff == nil || d.Diff.Stats == nil || len(d.Diff.Changes) != 2 {
		t.Fatalf("diff: %+v", d)
	}
	mods := map[string]string{}
	for _, c := range d.Diff.Changes {
		mods[c.Path] = c.Modifier
	}
	if mods[src+"/new.txt"] != "+" || mods[src+"/alpha/only-old.pdf"] != "-" {
		t.Errorf("diff changes = %v, want new.txt added and only-old.pdf removed", mods)
	}
}

// TestQueryHangingResticKilled: a restic that never answers is killed at
// the query's deadline (after the short grace) and the reply says it ran
// out of time; queries beyond the agent's limit are answered busy at
// once; a repository-less host says so.
func TestQueryHangingResticKilled(t *testing.T) {
	e := newJobEnv(t)
	pids := t.TempDir()
	hang := filepath.Join(t.TempDir(), "restic")
	script := "#!/bin/sh\ncase \"$1\" in version) echo 'restic 0.18.1 compiled with go1.26 on linux/amd64'; exit 0;; esac\n" +
		"trap '' INT\necho $$ >" + pids + "/$$\nexec sleep 60\n"
	agenttest.WriteExecutable(t, hang, script)
	e.cfg.ResticBinary = hang
	e.start(agent.WithQueryGrace(50 * time.Millisecond))
	qc := newQueryClient(t, e)
	if r := qc.ask(topics.Query{Op: topics.QueryFind, Pattern: "x"}); r.ErrorKind != topics.ReplyErrFailed ||
		!strings.Contains(r.Error, "no repository") {
		t.Fatalf("without a repository: %+v", r)
	}
	e.configure()

	var ids []string
	for range 5 {
		ids = append(ids, qc.send(topics.Query{Op: topics.QueryFind, Pattern: "x", TimeoutMS: 800}))
	}
	kinds := map[string]int{}
	for _, id := range ids {
		kinds[qc.wait(id).ErrorKind]++
	}
	if kinds[topics.ReplyErrTimeout] != 4 || kinds[topics.ReplyErrBusy] != 1 {
		t.Fatalf("reply kinds = %v, want 4 timeouts and 1 busy", kinds)
	}
	entries, err := os.ReadDir(pids)
	if err != nil || len(entries) != 4 {
		t.Fatalf("%d restic started (%v), want 4", len(entries), err)
	}
	for _, en := range entries {
		if _, err := os.Stat("/proc/" + en.Name()); err == nil {
			t.Errorf("restic %s still runs after its query timed out", en.Name())
		}
	}
}
