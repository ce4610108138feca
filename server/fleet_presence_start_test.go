package server_test

import (
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// Start returns once every host is stored offline, without waiting for the
// fleet's monitor states: Run republishes them beside it, and the web
// serves meanwhile (it waited 23-28 s for them at 5,000 hosts). Here the
// broker takes a monitor state only when the test lets it.
func TestPresenceStartDoesNotWaitForTheRepublish(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{})
	id := enrollTestHost(t, s, "slow-monitor")
	entered, release := make(chan struct{}), make(chan struct{})
	var enter, let sync.Once
	pub := &servertest.Publisher{Hook: func(m servertest.PublishedMessage) {
		if m.Topic == topics.MonitorHostTopic(id) {
			enter.Do(func() { close(entered) })
			<-release
		}
	}}
	s.SetPublisher(pub)
	servertest.RunInBackground(t, s)
	t.Cleanup(func() { let.Do(func() { close(release) }) }) // before Run's cleanup waits for the republisher

	started := make(chan error, 1)
	go func() { started <- s.Presence().Start(t.Context()) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Start waits for the monitor states to be published")
	}
	<-entered // the republish runs, beside
	let.Do(func() { close(release) })
	deadline := time.Now().Add(10 * time.Second)
	for len(pub.On(topics.MonitorHostTopic(id))) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the monitor state was not republished after Start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if m := pub.On(topics.MonitorHostTopic(id)); !m[0].Retain {
		t.Fatalf("monitor state not retained: %+v", m[0])
	}
}

// The broker listens before Start resets the stored presence, so in a
// restart storm agents connect, and a flush stores them online, before
// Start's reset. Start must not leave them stored offline while they are
// connected: the host list's online filter (and the fleet counts) read
// the store, and such a host would be missing from "online" until its
// next heartbeat — at every restart, for every agent that was quick.
func TestPresenceStartKeepsHostsThatConnectedBeforeIt(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{})
	ctx := t.Context()
	early, late := enrollTestHost(t, s, "early"), enrollTestHost(t, s, "gone")
	p := s.Presence()
	p.Connected(early, 1, "127.0.0.2:5000")
	p.Connected(late, 2, "127.0.0.2:5001")
	p.Disconnected(late, 2)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	stored := func(id string) bool {
		var online bool
		if err := s.DB().GetContext(ctx, &online, `SELECT online FROM hosts WHERE id = ?`, id); err != nil {
			t.Fatal(err)
		}
		return online
	}
	if !stored(early) {
		t.Error("a host connected since before Start is stored offline after Start and a flush")
	}
	if stored(late) {
		t.Error("a host that disconnected is stored online")
	}
}
