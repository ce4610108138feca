package agent_test

import (
	"errors"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/broker/brokertest"
	"github.com/restic-manager/restic-manager/topics"
)

// TestReconnectWhileServerUnavailable: the server's credential check fails
// for a moment (its database locked) while a connected agent reconnects.
// The broker answers "server unavailable", and the agent keeps retrying on
// its short backoff, not on the long wait reserved for refused credentials
// (an hour here), so it is back as soon as the check works again.
func TestReconnectWhileServerUnavailable(t *testing.T) {
	auth := brokertest.NewStaticAuth()
	h := newHost(t, auth)
	b := startBroker(t, "127.0.0.1:0", auth, nil)
	up := newCollector()
	up.watch(t, b, topics.HelloTopic(h.id))
	a := startAgent(t, plainConfig(t, h, b.TCPAddr()), agent.WithRefusedRetry(time.Hour))
	first := up.hello(t, h.id, "the first hello", func(*topics.Hello) bool { return true })

	auth.SetError(errors.New("database is locked"))
	b.Disconnect(h.id)
	a.logs.waitFor(t, "cannot connect", "could not check this host's credentials")
	deadline := time.Now().Add(waitTimeout)
	for b.Stats().Unavailable < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not retry on its short backoff: %+v", b.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	auth.SetError(nil)
	up.hello(t, h.id, "a hello after the server is back", func(hl *topics.Hello) bool { return hl.ConnGen > first.ConnGen })
	if s := b.Stats(); s.AuthFailures != 0 {
		t.Errorf("the server's failure counted as failed logins: %+v", s)
	}
}
