package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/restic-manager/restic-manager/topics"
)

// newPendingPassword makes the MQTT password of this run's pending client:
// 32 random bytes, base64url (43 characters).
func newPendingPassword() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("announce: crypto/rand failed: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// register names this run's pending client and its password to the server
// (POST BootstrapPath, signed by the identity key), so that a broker which
// checks CONNECTs itself (an external Mosquitto) lets it in. The server
// answers as for GET; with its embedded broker it provisions nothing. A
// server without the POST (older than #15) answers 404 or 405: nothing to
// register there, its embedded broker takes any pending password.
//
// It returns a *finalError when the server says this machine was rejected;
// any other error is retried with backoff.
func (an *announcer) register(ctx context.Context) error {
	client := an.keys.ClientID()
	body, err := json.Marshal(&topics.BootstrapRequest{Client: client, IdentityKey: an.keys.IdentityKey(), Password: an.password,
		Signature: ed25519.Sign(an.keys.identity, topics.BootstrapMessage(client, an.password))})
	if err != nil {
		return err
	}
	ans, err := askServer(ctx, an.httpClient, an.server, topics.BootstrapPath, body, "announce", "refusing to trust")
	if err != nil {
		return err
	}
	switch {
	case ans.status == http.StatusOK:
		if _, err := topics.DecodeBootstrapResponse(ans.body); err != nil {
			return fmt.Errorf("announce: the server's %w", err)
		}
		an.log.Debug("pending client registered with the server", "client", client)
		return nil
	case ans.status == http.StatusNotFound || ans.status == http.StatusMethodNotAllowed:
		an.log.Debug("the server does not take pending clients' passwords (older than #15); connecting without", "status", ans.status)
		return nil
	case ans.status == http.StatusForbidden:
		msg, _ := apiErrorMessage(ans.body)
		if msg == "" {
			msg = "no reason given; ask an admin before announcing again"
		}
		return &finalError{fmt.Errorf("announce: %w (fingerprint %s): %s", ErrRejected, an.keys.Fingerprint(), clipText(msg))}
	default:
		return errors.New(strings.Replace(bootstrapStatusError(ans.status, ans.body).Error(), "bootstrap request", "pending client's registration", 1))
	}
}
