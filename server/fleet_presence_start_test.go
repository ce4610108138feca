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
