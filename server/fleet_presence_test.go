package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

func enrollTestHost(t testing.TB, s *server.Service, name string) string {
	t.Helper()
	return servertest.EnrollHost(t, s, name)
}

func TestPresenceIgnoresStaleConnections(t *testing.T) {
	clock := servertest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := servertest.MustOpenService(t, server.Options{Now: clock.Now, Presence: server.PresenceOptions{OfflineAfter: time.Minute}})
	ctx := t.Context()
	id := enrollTestHost(t, s, "web-1")
	p := s.Presence()
	pub := &servertest.Publisher{}
	p.SetPublisher(pub)
	online := func() bool {
		h, err := s.GetHost(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return h.Online
	}
	offlineWill := &topics.Status{State: topics.StateOffline}

	p.Connected(id, 1, "127.0.0.1:5000")
	if !online() {
		t.Fatal("not online after connect")
	}
	// Reconnect (takeover): the new connection is seen first, then the old
	// one's disconnect and Will arrive late. The host must stay online.
	p.Connected(id, 2, "127.0.0.1:5001")
	p.Disconnected(id, 1)
	p.Status(id, 1, offlineWill)
	if !online() {
		t.Fatal("stale disconnect of connection 1 marked the host offline")
	}
	// The current connection's Will does count.
	p.Status(id, 2, offlineWill)
	if online() {
		t.Fatal("Will of the current connection ignored")
	}
	// Hello on a new connection brings it back, with versions.
	hello := &topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, id), AgentVersion: "2.0", ResticVersion: "0.18.1",
		OS: "linux", Arch: "arm64", Hostname: "web-1", BootID: "b", ConnGen: 7}
	p.Hello(id, 3, hello)
	h, _ := s.GetHost(ctx, id)
	if !h.Online || h.AgentVersion != "2.0" || h.Arch != "arm64" {
		t.Fatalf("after hello: %+v", h)
	}
	// Silence longer than OfflineAfter: the sweeper marks it offline.
	clock.Advance(2 * time.Minute)
	p.Sweep()
	if online() {
		t.Fatal("silent host still online after sweep")
	}
	// A heartbeat on the current connection revives it.
	p.Status(id, 3, &topics.Status{State: topics.StateOnline})
	if !online() {
		t.Fatal("heartbeat did not mark online")
	}
	// Flush persists state and versions and publishes the retained monitor state.
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var row struct {
		Online bool   `db:"online"`
		Agent  string `db:"agent_version"`
		Gen    int    `db:"conn_gen"`
	}
	if err := s.DB().Get(&row, `SELECT online, agent_version, conn_gen FROM hosts WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	if !row.Online || row.Agent != "2.0" || row.Gen != 7 {
		t.Fatalf("stored %+v", row)
	}
	var state topics.MonitorHostState
	msgs := pub.On(topics.MonitorHostTopic(id))
	if len(msgs) == 0 || !msgs[len(msgs)-1].Retain {
		t.Fatalf("no retained monitor state: %+v", msgs)
	}
	if err := topics.Decode(msgs[len(msgs)-1].Payload, &state); err != nil || !state.Online || state.Name != "web-1" {
		t.Fatalf("monitor state %+v %v", state, err)
	}
	// A restart resets stored presence.
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().Get(&row, `SELECT online, agent_version, conn_gen FROM hosts WHERE id = ?`, id); err != nil || row.Online {
		t.Fatalf("after Start: %+v %v", row, err)
	}
}

func TestBusDropsForSlowSubscriber(t *testing.T) {
	b := server.NewBus()
	ch, cancel := b.Subscribe()
	defer cancel()
	for i := 0; i < 200; i++ {
		b.Publish(server.Event{Kind: server.EventHostUpdated})
	}
	for len(ch) > 0 {
		<-ch
	}
	b.Publish(server.Event{Kind: server.EventHostPresence})
	if e := <-ch; e.Kind != server.EventResync {
		t.Fatalf("after drops got %q, want resync", e.Kind)
	}
	if e := <-ch; e.Kind != server.EventHostPresence {
		t.Fatalf("got %q", e.Kind)
	}
}

// TestMonitorStateRepublished: the broker expires retained messages, so the
// retained state of a host whose presence never changes is published again.
func TestMonitorStateRepublished(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{Presence: server.PresenceOptions{RepublishEvery: 20 * time.Millisecond}})
	id := enrollTestHost(t, s, "steady")
	pub := &servertest.Publisher{}
	s.Presence().SetPublisher(pub)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }() // the republisher runs while the process leads
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for len(pub.On(topics.MonitorHostTopic(id))) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the monitor state was not republished")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPresenceFlushFailureKeepsRows: a flush whose transaction fails (here
// its context ends) leaves its hosts to the next flush, hello included,
// instead of the store keeping the old presence until the host's next
// change.
func TestPresenceFlushFailureKeepsRows(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{})
	id := enrollTestHost(t, s, "web-1")
	p := s.Presence()
	p.Connected(id, 1, "127.0.0.1:5000")
	p.Hello(id, 1, &topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, id), AgentVersion: "2.0", ResticVersion: "0.18.1",
		OS: "linux", Arch: "arm64", Hostname: "web-1", BootID: "b", ConnGen: 3})
	failed, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.Flush(failed); err == nil {
		t.Fatal("a flush with an ended context did not fail")
	}
	var row struct {
		Online bool   `db:"online"`
		Agent  string `db:"agent_version"`
	}
	if err := s.DB().Get(&row, `SELECT online, agent_version FROM hosts WHERE id = ?`, id); err != nil || row.Online {
		t.Fatalf("after the failed flush: %+v %v", row, err)
	}
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().Get(&row, `SELECT online, agent_version FROM hosts WHERE id = ?`, id); err != nil || !row.Online || row.Agent != "2.0" {
		t.Fatalf("the next flush did not write what the failed one held: %+v %v", row, err)
	}
}

// A host revoked while a flush of its presence failed is not given back to
// the next flush: its presence is gone with it, and the next flush writes the
// other hosts (it dereferenced the forgotten host's missing presence).
func TestPresenceFlushFailureThenRevoke(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{})
	gone := enrollTestHost(t, s, "gone-1")
	kept := enrollTestHost(t, s, "kept-1")
	p := s.Presence()
	p.Connected(gone, 1, "127.0.0.1:5000")
	admin := servertest.ActorFor(servertest.MustCreateUser(t, s, "admin", server.RoleAdmin), "web")
	if err := s.RevokeHost(t.Context(), admin, gone, "gone-1"); err != nil {
		t.Fatal(err)
	}
	p.Requeue(gone) // the failed flush, ending after the revocation
	p.Connected(kept, 2, "127.0.0.1:5001")
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var online bool
	if err := s.DB().Get(&online, `SELECT online FROM hosts WHERE id = ?`, kept); err != nil || !online {
		t.Fatalf("the other host's presence was not written: online=%v %v", online, err)
	}
}

// TestPresenceWhileStopping: once the server says it is stopping, the
// broker's disconnects of every agent are stored by the final flush, in
// one go, and announced to no one: no host.presence event (the health
// store and the notifications would take them for news) and no monitor
// state (the embedded broker ends with the server). Before, each went out
// per host while the broker closed.
func TestPresenceWhileStopping(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{Presence: server.PresenceOptions{FlushEvery: 10 * time.Millisecond}})
	ids := []string{enrollTestHost(t, s, "stop-1"), enrollTestHost(t, s, "stop-2")}
	p := s.Presence()
	pub := &servertest.Publisher{}
	p.SetPublisher(pub)
	for i, id := range ids {
		p.Connected(id, uint64(i+1), "127.0.0.1:5000")
	}
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	published := len(pub.On(topics.MonitorHostTopic(ids[0])))
	events, stop := s.Events().Subscribe()
	defer stop()

	// Stopping before Run: Run's start asks for a republish of every
	// state, which is not the stop's.
	p.Stopping()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); s.Run(ctx) }()
	for i, id := range ids {
		p.Disconnected(id, uint64(i+1))
	}
	time.Sleep(50 * time.Millisecond) // five flush periods: none may write or publish
	var online int
	if err := s.DB().Get(&online, `SELECT COUNT(*) FROM hosts WHERE online = 1`); err != nil {
		t.Fatal(err)
	}
	if online != len(ids) {
		t.Errorf("%d hosts stored online before the final flush, want %d: a flush ran while stopping", online, len(ids))
	}
	cancel()
	<-ran
	if err := s.DB().Get(&online, `SELECT COUNT(*) FROM hosts WHERE online = 1`); err != nil {
		t.Fatal(err)
	}
	if online != 0 {
		t.Errorf("%d hosts still stored online after the final flush", online)
	}
	for drained := false; !drained; {
		select {
		case e := <-events:
			if e.Kind == server.EventHostPresence {
				t.Errorf("a presence event while stopping: %+v", e)
			}
		default:
			drained = true
		}
	}
	if n := len(pub.On(topics.MonitorHostTopic(ids[0]))); n != published {
		t.Errorf("%d monitor states published while stopping", n-published)
	}
}
