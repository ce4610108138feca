package web

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// TestAgentBootstrapPOST: the announcing agent's POST needs no credentials
// and gets GET's answer when its body is a valid signed request (the
// embedded broker provisions nothing); a body topics refuses (another
// key's signature, a short password, not JSON) is a 400 naming the fault,
// with nothing provisioned.
func TestAgentBootstrapPOST(t *testing.T) {
	app := newTestApp(t)
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	id := topics.PendingID(pub)
	body := func(key ed25519.PrivateKey, password string) string {
		b, _ := json.Marshal(topics.BootstrapRequest{Client: id, IdentityKey: pub, Password: password,
			Signature: ed25519.Sign(key, topics.BootstrapMessage(id, password))})
		return string(b)
	}
	const password = "a-password-of-the-agent-00"
	res := app.browser().postJSON("/api/v1/agents/bootstrap", body(priv, password))
	var boot topics.BootstrapResponse
	if err := json.Unmarshal([]byte(res.body), &boot); err != nil || res.StatusCode != http.StatusOK ||
		boot.MQTTURL != "mqtts://rm.example.test:8883" || boot.CAFingerprint != testFingerprint {
		t.Fatalf("bootstrap POST: %d %s", res.StatusCode, res.body)
	}
	for name, tc := range map[string]struct{ body, want string }{
		"another key's signature": {body(other, password), "signature does not verify"},
		"short password":          {body(priv, "short"), "password must be"},
		"not JSON":                {"<html>", "not the expected JSON"},
	} {
		res := app.browser().postJSON("/api/v1/agents/bootstrap", tc.body)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, tc.want) {
			t.Errorf("%s: %d %s, want 400 saying %q", name, res.StatusCode, res.body, tc.want)
		}
	}
}
