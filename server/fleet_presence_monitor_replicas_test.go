package server_test

import (
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// TestMonitorRepublishedByTheLeaderOnly: of two replicas on one store,
// only the leader republishes the fleet's retained monitor states (each
// RepublishEvery, and the full republish each replica's monitor watch asks
// for when it starts); the other publishes none of them.
func TestMonitorRepublishedByTheLeaderOnly(t *testing.T) {
	t.Parallel()
	pubs := []*servertest.Publisher{{}, {}}
	var host string
	rs := startReplicasWith(t, 2, server.Options{Presence: server.PresenceOptions{RepublishEvery: 20 * time.Millisecond}},
		func(i int, s *server.Service) {
			if i == 0 { // before anything runs: no replica's watch hears of it
				host = enrollTestHost(t, s, "steady")
			}
			s.Presence().SetExternalBroker()
			s.Presence().SetPublisher(pubs[i])
		})
	l := waitOneLeader(t, rs)
	topic := topics.MonitorHostTopic(host)
	// Both run now: five more rounds of the leader's are five ticks of the
	// other's republisher too.
	base := len(pubs[l].On(topic))
	waitFor(t, "the leader to republish five more times", func() bool { return len(pubs[l].On(topic)) >= base+5 })
	rs[1-l].stop() // before the leader: it would lead next
	if n := len(pubs[1-l].On(topic)); n != 0 {
		t.Fatalf("the replica that does not lead published the host's monitor state %d times", n)
	}
}
