package agent

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// TestRetryDelayAfterRefusal: a revoked host must not hammer the broker (its
// failed logins would block every machine behind the same address), while
// ordinary connection losses keep the fast backoff.
func TestRetryDelayAfterRefusal(t *testing.T) {
	a := &Agent{backoff: newBackoff(time.Second, 30*time.Second), refusedRetry: DefaultRefusedRetry}
	for _, err := range []error{
		describeConnectError(packets.ErrorRefusedNotAuthorised),
		fmt.Errorf("connect: %w", describeConnectError(packets.ErrorRefusedBadUsernameOrPassword)),
	} {
		if d := a.retryDelay(err); d < DefaultRefusedRetry/2 || d > DefaultRefusedRetry {
			t.Errorf("after %v: retry in %s, want %s..%s", err, d, DefaultRefusedRetry/2, DefaultRefusedRetry)
		}
	}
	if d := a.retryDelay(errors.New("connection lost: EOF")); d > time.Second {
		t.Errorf("ordinary loss: retry in %s, want the fast backoff", d)
	}
	// The server failing to check the credentials is not a refusal of them.
	if d := a.retryDelay(describeConnectError(packets.ErrorRefusedServerUnavailable)); d > 2*time.Second {
		t.Errorf("server unavailable: retry in %s, want the fast backoff", d)
	}
}
