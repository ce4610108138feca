package agent_test

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/broker/brokertest"
	"github.com/restic-manager/restic-manager/topics"
)

func TestAgentHelloHeartbeatAndCleanStop(t *testing.T) {
	resticPath := agenttest.RequireBinary(t, "restic")
	auth := brokertest.NewStaticAuth()
	h := newHost(t, auth)
	b := startBroker(t, "127.0.0.1:0", auth, nil)
	up := newCollector()
	up.watch(t, b, topics.HostUpFilter(h.id))
	cfg := plainConfig(t, h, b.TCPAddr())
	cfg.ResticBinary = resticPath
	a := startAgent(t, cfg)

	hello := up.hello(t, h.id, "hello", func(*topics.Hello) bool { return true })
	wantRestic, err := agent.ResticVersion(context.Background(), resticPath)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if hello.AgentVersion != agent.Version || hello.ResticVersion != wantRestic || hello.OS != runtime.GOOS ||
		hello.Arch != runtime.GOARCH || hello.Hostname != host || hello.BootID != a.BootID() ||
		hello.ConnGen != 1 || hello.ConfigVersion != 0 || hello.Host != h.id {
		t.Fatalf("hello %+v", hello)
	}
	if m := up.waitFor(t, "hello message", func(m broker.Message) bool { return m.Topic == topics.HelloTopic(h.id) }); m.ClientID != h.id {
		t.Fatalf("hello published by client %q", m.ClientID)
	}
	// The first heartbeat comes at once, the next after the interval.
	first := up.status(t, h.id, "first heartbeat", func(s *topics.Status) bool { return s.State == topics.StateOnline })
	second := up.status(t, h.id, "second heartbeat", func(s *topics.Status) bool {
		return s.State == topics.StateOnline && s.ID != first.ID
	})
	if second.ConnGen != 1 || second.BootID != a.BootID() || second.UptimeSeconds < 0 {
		t.Fatalf("heartbeat %+v", second)
	}
	if !a.Connected() || a.ConnGen() != 1 {
		t.Fatalf("Connected %v ConnGen %d", a.Connected(), a.ConnGen())
	}

	// Cancel: Run returns nil, the broker sees the connection end, and since
	// the agent said DISCONNECT there is no "offline" Will.
	if err := a.stop(t); err != nil {
		t.Fatalf("Run returned %v after cancel", err)
	}
	if a.Connected() {
		t.Fatal("still Connected after Run returned")
	}
	waitDisconnect(t, b, h.id)
	for _, m := range up.all() {
		var s topics.Status
		if m.Topic == topics.StatusTopic(h.id) && topics.Decode(m.Payload, &s) == nil && s.State == topics.StateOffline {
			t.Fatalf("a clean stop published the Will: %s", m.Payload)
		}
	}
	a.logs.waitFor(t, "msg=connected", "conn_gen=1")
	if strings.Contains(a.logs.String(), h.password) {
		t.Fatal("the MQTT password is in the log")
	}
}

func TestAgentOverTLSTrustsOnlyTheConfiguredCA(t *testing.T) {
	ca := agenttest.NewCA(t, "restic-manager test CA")
	auth := brokertest.NewStaticAuth()
	h := newHost(t, auth)
	b := startBroker(t, "127.0.0.1:0", auth, ca.ServerTLS(t))
	up := newCollector()
	up.watch(t, b, topics.HostUpFilter(h.id))

	cfg := plainConfig(t, h, b.TLSAddr())
	cfg.MQTTURL = "mqtts://" + b.TLSAddr().String()
	cfg.CACert, cfg.CAFingerprint = ca.PEM, ca.Fingerprint()
	a := startAgent(t, cfg)
	up.hello(t, h.id, "hello over TLS", func(*topics.Hello) bool { return true })
	a.stop(t)

	// Another CA in the config: the broker's certificate is not trusted.
	other := agenttest.NewCA(t, "other CA")
	h2 := newHost(t, auth)
	cfg2 := plainConfig(t, h2, b.TLSAddr())
	cfg2.MQTTURL = "ssl://" + b.TLSAddr().String()
	cfg2.CACert = other.PEM
	a2 := startAgent(t, cfg2)
	a2.logs.waitFor(t, "cannot connect", "certificate signed by unknown authority")
	if a2.Connected() {
		t.Fatal("connected to a broker the CA does not vouch for")
	}
}

func TestAgentWrongPasswordKeepsRetrying(t *testing.T) {
	auth := brokertest.NewStaticAuth()
	h := newHost(t, auth)
	b := startBroker(t, "127.0.0.1:0", auth, nil)
	cfg := plainConfig(t, h, b.TCPAddr())
	cfg.MQTTPassword = "wrong-password"
	a := startAgent(t, cfg)
	a.logs.waitFor(t, "cannot connect", "re-enroll", "conn_gen=1")
	a.logs.waitFor(t, "cannot connect", "conn_gen=2")
	if strings.Contains(a.logs.String(), "wrong-password") {
		t.Fatal("the MQTT password is in the log")
	}
}

func TestConnGenGrowsAcrossReconnectsAndRestarts(t *testing.T) {
	auth := brokertest.NewStaticAuth()
	h := newHost(t, auth)
	b := startBroker(t, "127.0.0.1:0", auth, nil)
	addr := b.TCPAddr()
	up := newCollector()
	up.watch(t, b, topics.HostUpFilter(h.id))
	cfg := plainConfig(t, h, addr)
	a := startAgent(t, cfg)
	first := up.hello(t, h.id, "first hello", func(*topics.Hello) bool { return true })
	// The hello reaches the broker's subscribers before its PUBACK reaches
	// the agent: only then is the session up (a close before that is a
	// failed connect, not a disconnect).
	a.logs.waitFor(t, "msg=connected", "conn_gen=1")

	// The broker goes away and comes back on the same port.
	b.Close()
	a.logs.waitFor(t, "disconnected; retrying", "conn_gen=1")
	b2 := startBroker(t, addr.String(), auth, nil)
	up.watch(t, b2, topics.HostUpFilter(h.id))
	second := up.hello(t, h.id, "hello after the broker restarted", func(hl *topics.Hello) bool { return hl.ConnGen > first.ConnGen })
	if second.BootID != first.BootID {
		t.Fatalf("boot id changed within one process: %s → %s", first.BootID, second.BootID)
	}
	a.stop(t)

	// A new agent process (same state_dir) continues the count and has a
	// new boot id.
	a2 := startAgent(t, cfg)
	third := up.hello(t, h.id, "hello after the agent restarted", func(hl *topics.Hello) bool { return hl.ConnGen > second.ConnGen })
	if third.BootID == second.BootID || third.BootID != a2.BootID() {
		t.Fatalf("boot id %s after restart (before %s)", third.BootID, second.BootID)
	}
}

func TestWillOnAbruptDropThenReconnect(t *testing.T) {
	auth := brokertest.NewStaticAuth()
	h := newHost(t, auth)
	b := startBroker(t, "127.0.0.1:0", auth, nil)
	up := newCollector()
	up.watch(t, b, topics.HostUpFilter(h.id))
	p := startProxy(t, b.TCPAddr())
	a := startAgent(t, plainConfig(t, h, p.Addr()))
	first := up.hello(t, h.id, "hello", func(*topics.Hello) bool { return true })

	a.logs.waitFor(t, "msg=connected", "conn_gen=1")
	p.cut() // no DISCONNECT reaches the broker
	will := up.status(t, h.id, "the offline Will", func(s *topics.Status) bool { return s.State == topics.StateOffline })
	if will.ConnGen != first.ConnGen || will.BootID != first.BootID {
		t.Fatalf("Will %+v does not name the dropped connection (gen %d)", will, first.ConnGen)
	}
	m := up.waitFor(t, "the Will message", func(m broker.Message) bool {
		var s topics.Status
		return topics.Decode(m.Payload, &s) == nil && s.State == topics.StateOffline
	})
	if m.Retain {
		t.Fatal("the Will is retained")
	}
	up.hello(t, h.id, "hello after the drop", func(hl *topics.Hello) bool { return hl.ConnGen > first.ConnGen })
	a.logs.waitFor(t, "disconnected; retrying", "connection lost")
}

func TestQueuedCommandArrivesAfterReconnect(t *testing.T) {
	auth := brokertest.NewStaticAuth()
	h := newHost(t, auth)
	b := startBroker(t, "127.0.0.1:0", auth, nil)
	up := newCollector()
	up.watch(t, b, topics.HostUpFilter(h.id))
	p := startProxy(t, b.TCPAddr())
	a := startAgent(t, plainConfig(t, h, p.Addr()))
	first := up.hello(t, h.id, "hello", func(*topics.Hello) bool { return true })

	// Take the agent offline and wait until the broker knows it.
	a.logs.waitFor(t, "msg=connected", "conn_gen=1")
	p.pause(true)
	p.cut()
	up.status(t, h.id, "the offline Will", func(s *topics.Status) bool { return s.State == topics.StateOffline })
	// The server sends a command while the host is offline: the persistent
	// session (clean session off) keeps it for the host.
	cmd := runCommandFor(t, h.id)
	if err := b.Publish(topics.CmdTopic(h.id), cmd.payload, false, 1); err != nil {
		t.Fatal(err)
	}
	p.pause(false)
	up.hello(t, h.id, "hello after reconnect", func(hl *topics.Hello) bool { return hl.ConnGen > first.ConnGen })
	a.logs.waitFor(t, "msg=command", "action=run", cmd.id)
}

// runCommandFor is a well-formed run command for h (a snapshots job).
func runCommandFor(t *testing.T, h string) sentMessage {
	t.Helper()
	c := &topics.Command{Envelope: topics.NewEnvelope(topics.TypeCmd, h), Action: topics.CmdRun, Job: topics.RandomID(topics.JobIDPrefix),
		Version: 1, ExpiresAt: time.Now().Add(time.Hour), Spec: &topics.JobSpec{Kind: topics.JobSnapshots}}
	data, err := topics.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return sentMessage{id: c.ID, payload: data}
}

func TestDownMessagesAreValidated(t *testing.T) {
	auth := brokertest.NewStaticAuth()
	h := newHost(t, auth)
	b := startBroker(t, "127.0.0.1:0", auth, nil)
	up := newCollector()
	up.watch(t, b, topics.HostUpFilter(h.id))
	a := startAgent(t, plainConfig(t, h, b.TCPAddr()))
	up.hello(t, h.id, "hello", func(*topics.Hello) bool { return true })

	other := topics.RandomID(topics.HostIDPrefix)
	forged, _ := topics.Encode(&topics.Config{Envelope: topics.NewEnvelope(topics.TypeConfig, other), Version: 7})
	bad := map[string][]byte{
		"not json":     []byte("{"),
		"empty":        nil,
		"forged host":  forged,
		"newer proto":  []byte(`{"v":99,"id":"x1","type":"cmd","ts":"2026-01-01T00:00:00Z","host":"` + h.id + `"}`),
		"no type":      []byte(`{"v":1,"id":"x1","ts":"2026-01-01T00:00:00Z","host":"` + h.id + `"}`),
		"huge":         []byte(`{"x":"` + strings.Repeat("a", topics.MaxPayload) + `"}`),
		"control type": []byte(`{"v":1,"id":"x1","type":"a\u001b[2J","ts":"2026-01-01T00:00:00Z"}`),
	}
	for name, payload := range bad {
		if err := b.Publish(topics.ConfigTopic(h.id), payload, false, 1); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	ack, _ := topics.Encode(&topics.Ack{Envelope: topics.NewEnvelope(topics.TypeAck, h.id), Seqs: []uint64{1, 99}})
	if err := b.Publish(topics.AckTopic(h.id), ack, false, 1); err != nil {
		t.Fatal(err)
	}
	cfgMsg, _ := topics.Encode(&topics.Config{Envelope: topics.NewEnvelope(topics.TypeConfig, h.id), Version: 3})
	if err := b.Publish(topics.ConfigTopic(h.id), cfgMsg, false, 0); err != nil {
		t.Fatal(err)
	}
	a.logs.waitFor(t, "msg=ack", "seqs=2")
	a.logs.waitFor(t, "applied config", "version=3")
	a.logs.waitFor(t, "dropped malformed message", "does not match topic host")
	a.logs.waitFor(t, "dropped malformed message", "newer than this build")
	if strings.Contains(a.logs.String(), "\x1b") {
		t.Fatal("an escape sequence from the network reached the log")
	}
	// Still alive and connected: a heartbeat after all this, same connection.
	n := len(up.all())
	up.waitFor(t, "a later heartbeat", func(broker.Message) bool { return len(up.all()) > n+1 })
	if !a.Connected() || a.ConnGen() != 1 {
		t.Fatalf("malformed input cost the connection: connected %v gen %d", a.Connected(), a.ConnGen())
	}
}

func TestCancelWhileBrokerUnreachable(t *testing.T) {
	auth := brokertest.NewStaticAuth()
	h := newHost(t, auth)
	b := startBroker(t, "127.0.0.1:0", auth, nil)
	addr := b.TCPAddr()
	b.Close()
	a := startAgent(t, plainConfig(t, h, addr), agent.WithBackoff(time.Millisecond, 5*time.Millisecond))
	a.logs.waitFor(t, "cannot connect", "conn_gen=3")
	if err := a.stop(t); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	a.logs.waitFor(t, "agent stopped")
}

func TestNewRejectsBadSetup(t *testing.T) {
	h := host{id: topics.RandomID(topics.HostIDPrefix), password: "pw"}
	cfg := &agent.Config{HostID: h.id, MQTTURL: "mqtt://127.0.0.1:1", MQTTPassword: "pw", StateDir: t.TempDir()}
	if _, err := agent.New(cfg, nil); err != nil {
		t.Fatal(err)
	}
	// A corrupt counter must not be guessed over.
	if err := os.WriteFile(cfg.StateDir+"/conn_gen", []byte("seven"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.New(cfg, nil); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt conn_gen: %v", err)
	}
	bad := *cfg
	bad.HostID = "x"
	if _, err := agent.New(&bad, nil); err == nil {
		t.Fatal("invalid config accepted")
	}
}
