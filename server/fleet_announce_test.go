package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// announceFixture is a service with a recording broker and a settable clock.
func announceFixture(t *testing.T, opts server.Options) (*server.Service, *servertest.Publisher, *servertest.Clock) {
	t.Helper()
	clock := servertest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	opts.Now = clock.Now
	s := servertest.MustOpenService(t, opts)
	pub := &servertest.Publisher{}
	s.SetPublisher(pub)
	s.SetAnnounceEndpoint("mqtts://rm.example.test:8883", []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), "SHA256:ca")
	return s, pub, clock
}

func mustListPending(t *testing.T, s *server.Service) []server.PendingHost {
	t.Helper()
	list, err := s.ListPendingHosts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestAnnounceAcceptFlow drives the whole exchange through HandleAnnounce:
// hello → challenge → proof → a listed pending row with the agent's
// fingerprint → accept → credentials only the agent can open, with an MQTT
// secret that works and is nowhere in the database files → the row ends when
// the host first connects.
func TestAnnounceAcceptFlow(t *testing.T) {
	s, pub, _ := announceFixture(t, server.Options{})
	ctx := t.Context()
	events, stop := s.Events().Subscribe()
	defer stop()
	agent := servertest.NewPendingAgent(t, "till-3")

	if kind, err := s.AuthenticateMQTT(ctx, agent.Client, []byte("anything")); err != nil || kind != server.MQTTPending {
		t.Fatalf("pending client cannot connect: %v %v", kind, err)
	}
	if _, err := s.AuthenticateMQTT(ctx, agent.Client, nil); err == nil {
		t.Fatal("pending client without a password accepted")
	}

	ch := agent.SendHello(t, s, pub, 7, "198.51.100.4:40000")
	if ch == nil || len(ch.Nonce) != 32 {
		t.Fatalf("challenge = %+v", ch)
	}
	st := agent.SendProof(t, s, pub, 7, agent.Proof(t, ch.Nonce))
	if st == nil || st.State != topics.AnnouncePending || st.Fingerprint != agent.Fingerprint() || st.Message == "" {
		t.Fatalf("status after proof = %+v", st)
	}
	for _, m := range pub.On(topics.AnnounceRespTopic(agent.Client)) {
		if m.QoS != 1 || m.Retain {
			t.Errorf("answer published with qos %d retain %v", m.QoS, m.Retain)
		}
	}
	list := mustListPending(t, s)
	if len(list) != 1 {
		t.Fatalf("pending list = %+v", list)
	}
	p := list[0]
	if p.Fingerprint != agent.Fingerprint() || p.Hostname != "till-3" || p.OS != "linux" || p.Arch != "arm64" ||
		p.AgentVersion != "1.2.3" || p.ResticVersion != "0.18.1" || p.SourceAddr != "198.51.100.4" || p.ClientID != agent.Client ||
		p.NameConflict || p.ExpiresAt.Sub(p.FirstSeen) != 24*time.Hour {
		t.Fatalf("pending row = %+v", p)
	}
	waitEvent(t, events, server.EventPendingChanged)

	// Only admins decide.
	viewer := server.Actor{Name: "val", Role: server.RoleOperator}
	if _, err := s.AcceptPendingHost(ctx, viewer, p.ID, "till-3", nil); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("operator accepted: %v", err)
	}
	hostID, err := s.AcceptPendingHost(ctx, server.CLIActor(), p.ID, "till-3", nil)
	if err != nil {
		t.Fatal(err)
	}
	st = agent.LastStatus(t, pub)
	if st.State != topics.AnnounceApproved {
		t.Fatalf("status after accept = %+v", st)
	}
	creds := agent.Open(t, st)
	if creds.HostID != hostID || creds.HostName != "till-3" || creds.MQTTURL != "mqtts://rm.example.test:8883" ||
		creds.CAFingerprint != "SHA256:ca" || !strings.Contains(creds.CACert, "BEGIN CERTIFICATE") {
		t.Fatalf("credentials = %+v", creds)
	}
	if kind, err := s.AuthenticateMQTT(ctx, hostID, []byte(creds.MQTTPassword)); err != nil || kind != server.MQTTHost {
		t.Fatalf("sealed secret does not authenticate: %v", err)
	}
	thief := servertest.NewPendingAgent(t, "thief")
	if _, err := topics.OpenCredentials(thief.Seal, st.Sealed); err == nil {
		t.Fatal("another key opened the credentials")
	}
	if len(mustListPending(t, s)) != 0 {
		t.Fatal("an accepted machine is still listed")
	}
	h, err := s.GetHost(ctx, hostID)
	if err != nil || h.Hostname != "till-3" || h.AgentVersion != "1.2.3" || h.RemoteAddr != "198.51.100.4" {
		t.Fatalf("host = %+v %v", h, err)
	}
	e := lastAuditRow(t, s)
	if e.Action != "pending_host.accept" || e.Target != "till-3" || !strings.Contains(e.Details, agent.Fingerprint()) ||
		strings.Contains(e.Details, creds.MQTTPassword) {
		t.Fatalf("audit = %+v", e)
	}
	if _, err := s.AcceptPendingHost(ctx, server.CLIActor(), p.ID, "again", nil); server.ErrorCodeOf(err) != server.CodeConflict {
		t.Fatalf("second accept: %v", err)
	}

	// Offline during the approval: the agent reconnects, proves its key
	// again and gets the same sealed credentials.
	st = agent.Announce(t, s, pub, 9, "198.51.100.4:40001")
	if st == nil || st.State != topics.AnnounceApproved || agent.Open(t, st).MQTTPassword != creds.MQTTPassword {
		t.Fatalf("re-announce after approval = %+v", st)
	}

	// The secret is stored as a hash and sealed to the agent, never in plaintext.
	if err := s.Presence().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	assertNotInDBFiles(t, s, creds.MQTTPassword)

	// The host connects: its pending row (and the sealed bytes) go away.
	s.Presence().Connected(hostID, 11, "198.51.100.4:40002")
	if n := countRows(t, s, "pending_hosts"); n != 0 {
		t.Fatalf("%d pending rows after the host connected", n)
	}
}

// assertNotInDBFiles fails if secret appears in the store (the database
// or its WAL; any table on PostgreSQL).
func assertNotInDBFiles(t *testing.T, s *server.Service, secret string) {
	t.Helper()
	for where, b := range storedData(t, s) {
		if containsSecret(b, []byte(secret)) {
			t.Fatalf("%s contains the MQTT secret in plaintext", where)
		}
	}
}

func lastAuditRow(t *testing.T, s *server.Service) server.AuditEntry {
	t.Helper()
	rows, err := s.ListAudit(t.Context(), server.AuditFilter{Limit: 1})
	if err != nil || len(rows) == 0 {
		t.Fatalf("no audit rows: %v", err)
	}
	return rows[0]
}

func waitEvent(t *testing.T, events <-chan server.Event, kind string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Kind == kind {
				return
			}
		case <-deadline:
			t.Fatalf("no %s event", kind)
		}
	}
}

// TestAnnounceRefusesReplays: a proof is good once, on the connection its
// challenge went to, within the minute, signed by the hello's key. Refused
// proofs get no answer and create nothing.
func TestAnnounceRefusesReplays(t *testing.T) {
	s, pub, clock := announceFixture(t, server.Options{})
	agent := servertest.NewPendingAgent(t, "box")
	silent := func(name string, st *topics.AnnounceStatus) {
		t.Helper()
		if st != nil {
			t.Errorf("%s: answered %+v", name, st)
		}
		if n := countRows(t, s, "pending_hosts"); n != 0 {
			t.Fatalf("%s: created %d rows", name, n)
		}
	}

	// The same proof bytes from another connection.
	ch := agent.SendHello(t, s, pub, 1, "192.0.2.1:1")
	proof := agent.Proof(t, ch.Nonce)
	silent("proof from another connection", agent.SendProof(t, s, pub, 2, proof))
	// The challenge is spent by that attempt: even its own connection cannot use it now.
	silent("nonce reused", agent.SendProof(t, s, pub, 1, proof))

	// A late proof.
	ch = agent.SendHello(t, s, pub, 3, "192.0.2.1:1")
	clock.Advance(server.ChallengeTTL)
	silent("expired challenge", agent.SendProof(t, s, pub, 3, agent.Proof(t, ch.Nonce)))

	// A proof for another nonce, and one signed by another key.
	ch = agent.SendHello(t, s, pub, 4, "192.0.2.1:1")
	other := make([]byte, 32)
	silent("wrong nonce", agent.SendProof(t, s, pub, 4, agent.Proof(t, other)))
	ch = agent.SendHello(t, s, pub, 4, "192.0.2.1:1")
	forger := servertest.NewPendingAgent(t, "box")
	forger.Client = agent.Client
	silent("signed by another key", agent.SendProof(t, s, pub, 4, forger.Proof(t, ch.Nonce)))

	// A proof without any hello.
	fresh := servertest.NewPendingAgent(t, "new")
	silent("no challenge", fresh.SendProof(t, s, pub, 5, fresh.Proof(t, other)))

	// The genuine exchange still works, once; replaying its proof afterwards
	// is refused.
	ch = agent.SendHello(t, s, pub, 6, "192.0.2.1:1")
	proof = agent.Proof(t, ch.Nonce)
	if st := agent.SendProof(t, s, pub, 6, proof); st == nil || st.State != topics.AnnouncePending {
		t.Fatalf("genuine proof: %+v", st)
	}
	if st := agent.SendProof(t, s, pub, 6, proof); st != nil {
		t.Fatalf("replayed proof answered: %+v", st)
	}
	if got := s.Stats().Rejected.Load(); got != 7 {
		t.Errorf("rejected counter %d, want 7", got)
	}
}

// TestHandleAnnounceRejectsForgeries: messages that do not belong to the
// publishing client, or are not announce messages at all, change nothing.
func TestHandleAnnounceRejectsForgeries(t *testing.T) {
	s, pub, _ := announceFixture(t, server.Options{})
	a, b := servertest.NewPendingAgent(t, "a"), servertest.NewPendingAgent(t, "b")
	s.PendingConnected(a.Client, 1, "192.0.2.1:1")
	cases := []struct {
		name, topic string
		payload     []byte
	}{
		{"into another client's topic", topics.AnnounceReqTopic(b.Client), b.Hello(t)},
		{"another client's hello on own topic", topics.AnnounceReqTopic(a.Client), b.Hello(t)},
		{"response topic", topics.AnnounceRespTopic(a.Client), a.Hello(t)},
		{"host topic", topics.HelloTopic(topics.RandomID(topics.HostIDPrefix)), a.Hello(t)},
		{"not json", topics.AnnounceReqTopic(a.Client), []byte("{nope")},
		{"unknown type", topics.AnnounceReqTopic(a.Client), []byte(`{"type":"announce.status","state":"approved"}`)},
		{"status as hello", topics.AnnounceReqTopic(a.Client), []byte(`{"v":1,"type":"announce.hello"}`)},
	}
	for _, tc := range cases {
		s.HandleAnnounce(tc.topic, tc.payload, a.Client, 1)
	}
	if got := s.Stats().Rejected.Load(); got != uint64(len(cases)) {
		t.Errorf("rejected %d, want %d", got, len(cases))
	}
	for _, ag := range []*servertest.PendingAgent{a, b} {
		if n := len(pub.On(topics.AnnounceRespTopic(ag.Client))); n != 0 {
			t.Errorf("forgeries were answered %d times", n)
		}
	}
}

// TestAcceptedAgentWithNewSealKey: an accepted machine that proves a new
// seal key (it lost the old one) gets a new secret sealed to the new key,
// and the old secret stops working.
func TestAcceptedAgentWithNewSealKey(t *testing.T) {
	s, pub, _ := announceFixture(t, server.Options{})
	ctx := t.Context()
	agent := servertest.NewPendingAgent(t, "kiosk")
	agent.Announce(t, s, pub, 1, "192.0.2.9:1")
	hostID, err := s.AcceptPendingHost(ctx, server.CLIActor(), mustListPending(t, s)[0].ID, "kiosk-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	old := agent.Open(t, agent.LastStatus(t, pub))
	relocated := *agent
	relocated.Seal = servertest.NewPendingAgent(t, "x").Seal
	st := relocated.Announce(t, s, pub, 2, "192.0.2.9:2")
	if st == nil || st.State != topics.AnnounceApproved {
		t.Fatalf("status = %+v", st)
	}
	creds := relocated.Open(t, st)
	if creds.HostID != hostID || creds.MQTTPassword == old.MQTTPassword {
		t.Fatalf("credentials = %+v", creds)
	}
	if _, err := s.AuthenticateMQTT(ctx, hostID, []byte(creds.MQTTPassword)); err != nil {
		t.Fatalf("new secret: %v", err)
	}
	if _, err := s.AuthenticateMQTT(ctx, hostID, []byte(old.MQTTPassword)); err == nil {
		t.Fatal("the replaced secret still works")
	}
}
