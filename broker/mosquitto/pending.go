package mosquitto

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// A pending client (p_..., announce-and-approve) is unknown to Mosquitto
// until the server provisions it from the agent's bootstrap request (POST
// /api/v1/agents/bootstrap). It lives until the server deletes it
// (Disconnect: approval, rejection, its host's first connection) or it
// expires: its expiry is written into the client's textdescription, so a
// server that restarts, or another replica, finds it (PendingClients) and
// its sweep deletes it.

// pendingNote starts the textdescription of a pending client; the expiry
// in RFC 3339 follows it.
const pendingNote = "restic-manager pending client; delete after "

// ProvisionPending gives pending client id a client with password, bound to
// the same client ID, and its own role with the pending row of the ACL
// (acl.go), to be deleted after expires. A client that exists already (the
// agent announces again) gets the new password and expiry.
func (b *Bus) ProvisionPending(id, password string, expires time.Time) error {
	if !topics.ValidPendingID(id) {
		return fmt.Errorf("mosquitto: %q is not a pending client ID", id)
	}
	return b.provision(id, password, pendingRole(id), pendingACL(id), pendingNote+expires.UTC().Format(time.RFC3339))
}

// PendingClients lists the pending clients on the broker with their
// expiry (the zero time when the note is missing or unreadable: someone
// else made it, and the caller decides). It lists every client of the
// broker, so it is for a sweep's rare use, not for each request.
func (b *Bus) PendingClients() (map[string]time.Time, error) {
	res, err := b.ctl.send(command{"command": "listClients", "verbose": true, "count": -1, "offset": 0})
	if err != nil {
		return nil, err
	}
	if res[0].Error != "" {
		return nil, fmt.Errorf("mosquitto: list clients: %s", res[0].Error)
	}
	var data struct {
		Clients []struct {
			Username        string `json:"username"`
			TextDescription string `json:"textdescription"`
		} `json:"clients"`
	}
	if err := json.Unmarshal(res[0].Data, &data); err != nil {
		return nil, fmt.Errorf("mosquitto: list clients: unreadable answer: %w", err)
	}
	out := make(map[string]time.Time)
	for _, c := range data.Clients {
		if !topics.ValidPendingID(c.Username) {
			continue
		}
		var at time.Time
		if rest, ok := strings.CutPrefix(c.TextDescription, pendingNote); ok {
			at, _ = time.Parse(time.RFC3339, rest)
		}
		out[c.Username] = at
	}
	return out, nil
}
