package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/broker/mosquitto"
	"github.com/restic-manager/restic-manager/broker/mosquitto/mosquittotest"
	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// TestExternalMosquittoAnnounce runs announce-and-approve through a real
// Mosquitto with its dynamic-security plugin (serve --broker):
//   - the real agent binary announces without a token: its bootstrap
//     request makes its pending client on Mosquitto, it shows as pending
//     (from its real address), an admin accepts it through the API, it runs
//     as the new host in the same process and runs a backup, and its
//     pending client is gone from Mosquitto;
//   - a pending identity (registered by the test through the same HTTP
//     request) can subscribe only to its own answer topic, and what it
//     publishes outside its announce request never reaches the server;
//     a bootstrap request signed by another key is refused;
//   - a second agent is rejected: it exits saying so, its pending client is
//     gone, and its key cannot register a pending client again;
//   - a pending client nobody deletes is deleted by the sweep once its
//     time is up.
func TestExternalMosquittoAnnounce(t *testing.T) {
	t.Parallel()
	agenttest.RequireBinary(t, "restic")
	mb := mosquittotest.Start(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	var skew atomic.Int64 // the server's clock runs this far ahead (the expiry step)
	m := startServer(t, dataDir, "", func(m *Main) {
		m.MQTTAddr, m.MQTTSAddr = "", ""
		m.BrokerURL, m.BrokerUser, m.BrokerPassword = mb.URL, mosquittotest.AdminUser, mb.AdminPassword
		m.ServiceOptions.Announce = server.AnnounceOptions{SweepEvery: 300 * time.Millisecond}
		m.ServiceOptions.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	api := apiClient{t: t, base: m.HTTPURL(), token: cli(t, "", "apitoken", "create", "--user", "admin", "--data", dataDir)}
	dynsec := observeBroker(t, mb)
	onBroker := func(client string) bool {
		list, err := dynsec.PendingClients()
		if err != nil {
			t.Fatalf("list the broker's clients: %v", err)
		}
		_, ok := list[client]
		return ok
	}
	type pendingRow struct {
		ID          int64  `json:"id"`
		ClientID    string `json:"client_id"`
		Fingerprint string `json:"fingerprint"`
		SourceAddr  string `json:"source_addr"`
	}
	pending := func(fingerprint string) *pendingRow {
		var list struct {
			Pending []pendingRow `json:"pending_hosts"`
		}
		api.do("GET", "/api/v1/pending-hosts", nil, &list)
		for _, p := range list.Pending {
			if p.Fingerprint == fingerprint {
				return &p
			}
		}
		return nil
	}
	announce := func(name string) (*agentProc, *pendingRow) {
		p := startAgentArgs(t, "announce", "--server", m.HTTPSURL(), "--ca-fingerprint", m.TLS().Fingerprint,
			"--config", filepath.Join(dir, name, "agent.yaml"), "--state-dir", filepath.Join(dir, name, "state"))
		var printed string
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s's output:\n%s\nmosquitto:\n%s", name, p.logs, mb.Log())
			}
		})
		waitFor(t, name+"'s banner", 30*time.Second, func() bool {
			if mm := bannerFingerprintRE.FindStringSubmatch(p.logs.String()); mm != nil {
				printed = mm[1]
				return true
			}
			return p.exited()
		})
		if printed == "" {
			t.Fatalf("%s exited without a banner:\n%s\nmosquitto:\n%s", name, p.logs, mb.Log())
		}
		var row *pendingRow
		waitFor(t, name+"'s pending row", 10*time.Second, func() bool { row = pending(printed); return row != nil })
		if !strings.HasPrefix(row.SourceAddr, "127.0.0.1") || !onBroker(row.ClientID) {
			t.Fatalf("%s pending as %+v; on the broker: %v", name, row, onBroker(row.ClientID))
		}
		return p, row
	}

	// Accept: the agent switches to its host identity in place and works.
	till, row := announce("till")
	repo := filepath.Join(dir, "till-repo")
	var accepted struct {
		HostID string `json:"host_id"`
	}
	if code := api.do("POST", "/api/v1/pending-hosts/"+itoa(row.ID)+"/accept", map[string]any{"name": "till-1",
		"repository": map[string]any{"url": repo, "password": "till repository password"}}, &accepted); code != http.StatusOK {
		t.Fatalf("accept: HTTP %d", code)
	}
	e := &jobEnv{t: t, dir: dir, dataDir: dataDir, m: m, hostName: "till-1", apiToken: api.token, hostID: accepted.HostID, agent: till}
	e.waitOnline(60 * time.Second)
	waitFor(t, "the accepted host's repository initialised", 60*time.Second, func() bool {
		j := e.latestJob("init")
		if j.terminal() && j.Status != "succeeded" {
			t.Fatalf("init: %+v\n%s", j, till.logs)
		}
		return j.Status == "succeeded"
	})
	data := makeData(t, filepath.Join(dir, "src"), 3, 1024)
	if j := e.waitJob(e.runJob(map[string]any{"kind": "backup", "paths": []string{data}}), 90*time.Second); j.Status != "succeeded" || j.SnapshotID == "" {
		t.Fatalf("backup: %s snapshot %q\n%s", j.Status, j.SnapshotID, till.logs)
	}
	if till.exited() {
		t.Fatalf("the accepted agent exited:\n%s", till.logs)
	}
	waitFor(t, "the accepted machine's pending client deleted from the broker", 10*time.Second, func() bool { return !onBroker(row.ClientID) })

	// A pending identity of the test's own, registered like an agent.
	pub, priv, _ := ed25519.GenerateKey(nil)
	raw := topics.PendingID(pub)
	const rawPassword = "raw-pending-client-password"
	if code, body := bootstrapPOST(t, m, priv, raw, rawPassword); code != http.StatusOK {
		t.Fatalf("bootstrap of a pending identity: HTTP %d %s", code, body)
	}
	_, otherKey, _ := ed25519.GenerateKey(nil)
	if code, _ := bootstrapPOST(t, m, otherKey, raw, "someone-elses-password-here"); code != http.StatusBadRequest {
		t.Fatalf("a bootstrap signed by another key: HTTP %d, want 400", code)
	}
	rc := mqttClient(t, mb.URL.Host, raw, rawPassword)
	for filter, want := range map[string]byte{
		topics.AnnounceRespTopic(raw):          1,
		topics.AnnounceRespTopic(row.ClientID): 0x80,
		topics.Prefix + "/announce/+/resp":     0x80,
		topics.HostDownFilter(accepted.HostID): 0x80,
		topics.Prefix + "/hosts/+/up/#":        0x80,
		topics.Prefix + "/monitor/#":           0x80,
	} {
		tok := rc.Subscribe(filter, 1, func(paho.Client, paho.Message) {})
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", filter, tok.Error())
		}
		if got := tok.(*paho.SubscribeToken).Result()[filter]; got != want {
			t.Errorf("pending identity subscribing to %s: SUBACK %#x, want %#x", filter, got, want)
		}
	}
	answers := make(chan []byte, 4)
	rc.Subscribe(topics.AnnounceRespTopic(raw), 1, func(_ paho.Client, msg paho.Message) { answers <- msg.Payload() })
	// A forged hello for the accepted host, then the identity's own
	// announce hello: the challenge answering the second proves the server
	// took the identity's traffic, in order, and the first never arrived.
	forged := topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, accepted.HostID), AgentVersion: "forged",
		OS: "linux", Arch: "amd64", Hostname: "forged", BootID: "forged", ConnGen: 1 << 40}
	_, seal, _ := ed25519.GenerateKey(nil)
	sealKey := seal.Public().(ed25519.PublicKey)
	hello := topics.AnnounceHello{Envelope: topics.NewEnvelope(topics.TypeAnnounceHello, ""), Client: raw, Hostname: "raw",
		OS: "linux", Arch: "amd64", AgentVersion: "test", IdentityKey: pub, SealKey: sealKey,
		SealKeySig: ed25519.Sign(priv, topics.SealKeyMessage(sealKey))}
	fb, _ := json.Marshal(forged)
	if tok := rc.Publish(topics.Topic{Kind: topics.KindHello, Host: accepted.HostID}.String(), 1, false, fb); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish the forged hello: %v", tok.Error())
	}
	b, _ := topics.Encode(&hello)
	if tok := rc.Publish(topics.AnnounceReqTopic(raw), 1, false, b); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish the announce hello: %v", tok.Error())
	}
	select {
	case a := <-answers:
		var ch topics.AnnounceChallenge
		if err := topics.Decode(a, &ch); err != nil {
			t.Fatalf("answer to the pending identity's hello: %v (%s)", err, a)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no challenge for the pending identity's hello\nmosquitto:\n%s", mb.Log())
	}
	var h struct {
		Hostname string `json:"hostname"`
	}
	if api.do("GET", "/api/v1/hosts/"+accepted.HostID, nil, &h) != http.StatusOK || h.Hostname == "forged" {
		t.Fatalf("a pending identity's forged hello reached the server: hostname %q", h.Hostname)
	}
	rc.Disconnect(0)

	// Reject: the agent is told and exits, its client is deleted, and its
	// key cannot register a pending client again.
	kiosk, krow := announce("kiosk")
	if code := api.do("POST", "/api/v1/pending-hosts/"+itoa(krow.ID)+"/reject", nil, nil); code != http.StatusOK {
		t.Fatalf("reject: HTTP %d", code)
	}
	waitFor(t, "the rejected agent to exit", 30*time.Second, kiosk.exited)
	if kiosk.cmd.ProcessState.ExitCode() == 0 || !strings.Contains(strings.ToLower(kiosk.logs.String()), "rejected") {
		t.Fatalf("rejected agent: exit %d, output:\n%s", kiosk.cmd.ProcessState.ExitCode(), kiosk.logs)
	}
	waitFor(t, "the rejected machine's pending client deleted from the broker", 10*time.Second, func() bool { return !onBroker(krow.ClientID) })
	kioskKey := readIdentityKey(t, filepath.Join(dir, "kiosk", "state", agent.IdentityKeyFile))
	if code, body := bootstrapPOST(t, m, kioskKey, krow.ClientID, "kiosk-tries-once-more-password"); code != http.StatusForbidden ||
		!strings.Contains(string(body), "rejected") {
		t.Fatalf("bootstrap of a rejected machine: HTTP %d %s", code, body)
	}
	if onBroker(krow.ClientID) {
		t.Fatal("a rejected machine's pending client was made again")
	}

	// Expiry: the test's pending identity was never decided on; once its
	// time is up (the server's clock jumps past it) the sweep deletes it.
	if !onBroker(raw) {
		t.Fatal("the pending identity's client is gone before its time")
	}
	skew.Store(int64(2 * time.Hour))
	waitFor(t, "the expired pending client deleted by the sweep", 10*time.Second, func() bool { return !onBroker(raw) })
	if err := tryMQTT(mb.URL.Host, raw, rawPassword); err == nil {
		t.Fatal("an expired pending client connected")
	}
	if list, _ := dynsec.PendingClients(); len(list) != 0 {
		t.Fatalf("pending clients left on the broker: %v", slices.Collect(maps.Keys(list)))
	}
}

// bootstrapPOST registers pending client id with password, signed by key,
// as the agent does (POST /api/v1/agents/bootstrap).
func bootstrapPOST(t *testing.T, m *Main, key ed25519.PrivateKey, id, password string) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(topics.BootstrapRequest{Client: id, IdentityKey: key.Public().(ed25519.PublicKey), Password: password,
		Signature: ed25519.Sign(key, topics.BootstrapMessage(id, password))})
	resp, err := http.Post(m.HTTPURL()+topics.BootstrapPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes()
}

// readIdentityKey reads an agent's announce identity key from its state
// directory.
func readIdentityKey(t *testing.T, path string) ed25519.PrivateKey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s is not PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(ed25519.PrivateKey)
}

// TestExternalMosquittoPendingLimits: the embedded broker's limits on
// pending clients, as the server applies them to registrations on an
// external broker — at most MaxPendingPerAddr registered clients per
// address and MaxPending in all (unavailable: the agent retries; a client
// already registered renews), and HellosPerAddrPerMinute registrations per
// address and minute (rate limited). Only what fits is made on Mosquitto.
func TestExternalMosquittoPendingLimits(t *testing.T) {
	t.Parallel()
	mb := mosquittotest.Start(t)
	m := startServer(t, filepath.Join(t.TempDir(), "data"), "", func(m *Main) {
		m.MQTTAddr, m.MQTTSAddr = "", ""
		m.BrokerURL, m.BrokerUser, m.BrokerPassword = mb.URL, mosquittotest.AdminUser, mb.AdminPassword
		// 8 in all, min(10, 8/4) = 2 per address, 3 requests per address and minute.
		m.ServiceOptions.Announce = server.AnnounceOptions{MaxPending: 8, HellosPerAddrPerMinute: 3}
	})
	svc := m.Service()
	register := func(key ed25519.PrivateKey, addr string) error {
		id := topics.PendingID(key.Public().(ed25519.PublicKey))
		const password = "limits-test-pending-password"
		return svc.BootstrapPending(t.Context(), &topics.BootstrapRequest{Client: id, IdentityKey: key.Public().(ed25519.PublicKey),
			Password: password, Signature: ed25519.Sign(key, topics.BootstrapMessage(id, password))}, addr+":40000")
	}
	newKey := func() ed25519.PrivateKey { _, k, _ := ed25519.GenerateKey(nil); return k }
	want := func(what string, err error, code server.ErrorCode) {
		t.Helper()
		if got := server.ErrorCodeOf(err); (code == "" && err != nil) || (code != "" && got != code) {
			t.Fatalf("%s: %v (code %q), want code %q", what, err, got, code)
		}
	}
	first := newKey()
	want("first from 10.0.0.1", register(first, "10.0.0.1"), "")
	want("second from 10.0.0.1", register(newKey(), "10.0.0.1"), "")
	want("third from 10.0.0.1 (over its share)", register(newKey(), "10.0.0.1"), server.CodeUnavailable)
	want("a fourth request from 10.0.0.1 in the minute", register(first, "10.0.0.1"), server.CodeRateLimited)
	want("renewal from 10.0.0.2", register(first, "10.0.0.2"), "")
	for i := 3; i <= 5; i++ {
		addr := "10.0.0." + itoa(int64(i))
		want(addr+" a", register(newKey(), addr), "")
		if i < 5 {
			want(addr+" b", register(newKey(), addr), "")
		}
	}
	// 1 (10.0.0.1) + 1 (the renewed one, now 10.0.0.2) + 2 + 2 + 1 = 7: one more fits, then none.
	want("the eighth", register(newKey(), "10.0.0.6"), "")
	err := register(newKey(), "10.0.0.7")
	want("the ninth", err, server.CodeUnavailable)
	if !strings.Contains(server.PublicMessage(err), "limit 8") {
		t.Fatalf("refusal %q does not name the limit", server.PublicMessage(err))
	}
	list, err := observeBroker(t, mb).PendingClients()
	if err != nil || len(list) != 8 {
		t.Fatalf("pending clients on the broker: %d (%v), want 8", len(list), err)
	}
}

// observeBroker is the test's own view of mb's clients: an admin
// connection that lists them through the plugin (listClients).
func observeBroker(t *testing.T, mb *mosquittotest.Broker) *mosquitto.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b, err := mosquitto.Connect(ctx, mosquitto.Config{URL: mb.URL, Username: mosquittotest.AdminUser,
		Password: mb.AdminPassword, ClientID: "test-observer"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
