package server_test

import (
	"encoding/json"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// With a broker that gives no connection serial (an external Mosquitto,
// conn 0), presence follows the agent's conn_gen: a hello is the connect, a
// Will (status offline) of the current connection takes the host offline,
// and a late Will of an older connection does not take a reconnected host
// offline.
func TestPresenceFromConnGenWithoutBrokerSerial(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{})
	h := enrollTestHost(t, s, "mq-1")
	send := func(topic string, m any) {
		t.Helper()
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		s.HandleMessage(topic, data, h, 0)
	}
	hello := func(gen uint64) {
		send(topics.HelloTopic(h), &topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, h), AgentVersion: "1",
			OS: "linux", Arch: "amd64", BootID: "b", ConnGen: gen})
	}
	will := func(gen uint64) {
		send(topics.StatusTopic(h), &topics.Status{Envelope: topics.NewEnvelope(topics.TypeStatus, h),
			State: topics.StateOffline, BootID: "b", ConnGen: gen})
	}
	online := func() bool {
		t.Helper()
		host, err := s.GetHost(t.Context(), h)
		if err != nil {
			t.Fatal(err)
		}
		return host.Online
	}
	if online() {
		t.Fatal("online before any hello")
	}
	hello(7)
	if !online() {
		t.Fatal("a hello without a broker serial did not bring the host online")
	}
	will(7)
	if online() {
		t.Fatal("the Will of the current connection did not take the host offline")
	}
	hello(8)
	will(7) // the old connection's Will, delivered late
	if !online() {
		t.Fatal("a stale Will took a reconnected host offline")
	}
}
