package agent_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/agent"
)

// TestAnnounceRegistersPendingClient: against a server that takes
// registrations and a broker that lets a pending client in only with the
// password it registered (an external Mosquitto), the agent registers
// before it connects (a request topics accepts, signature included), and
// when its registration is gone and its connection cut it is refused,
// registers again and announces again.
func TestAnnounceRegistersPendingClient(t *testing.T) {
	f := newAnnounceFixture(t)
	f.boot.TakeRegistrations()
	f.auth.registered.Store(f.boot)
	f.start(t, f.opts())
	p := f.waitPending(t, 1)
	if n := f.boot.Registrations(); n != 1 {
		t.Fatalf("%d registrations before the first announce, want 1", n)
	}
	if pw, ok := f.boot.Password(p.Client); !ok || len(pw) < 22 {
		t.Fatalf("registered password %q (%v)", pw, ok)
	}

	// The registration expires on the broker, which cuts the client off.
	f.boot.Forget(p.Client)
	f.broker.Disconnect(p.Client)
	f.waitPending(t, 2)
	if n := f.boot.Registrations(); n < 2 {
		t.Fatalf("%d registrations after the broker refused the pending client, want a second one", n)
	}
	if !strings.Contains(f.logs.String(), "the broker refused this pending client") {
		t.Fatalf("no refusal before the new registration:\n%s", f.logs)
	}
}

// TestAnnounceRegistrationRejected: a server that answers the registration
// with 403 (this machine was rejected) ends the announce with ErrRejected
// and the server's sentence, before any MQTT.
func TestAnnounceRegistrationRejected(t *testing.T) {
	f := newAnnounceFixture(t)
	f.boot.RefuseRegistrations(http.StatusForbidden, "An admin rejected this machine; ask them why.")
	_, err := agent.Announce(context.Background(), f.opts())
	if !errors.Is(err, agent.ErrRejected) || !strings.Contains(err.Error(), "ask them why") {
		t.Fatalf("err %v, want ErrRejected with the server's sentence", err)
	}
	if f.double.Peers() != 0 {
		t.Fatal("the agent announced although its registration was refused")
	}
}
