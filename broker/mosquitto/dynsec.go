package mosquitto

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/topics"
)

// The dynamic-security plugin's control API: a request is a JSON list of
// commands published to controlTopic; the plugin answers the requesting
// client on controlResponseTopic, one response per command, in order, each
// with the command's correlationData.
const (
	controlTopic         = "$CONTROL/dynamic-security/v1"
	controlResponseTopic = controlTopic + "/response"
)

// command is one control API command; its fields are the plugin's.
type command map[string]any

type controlRequest struct {
	Commands []command `json:"commands"`
}

type controlResponse struct {
	Responses []commandResponse `json:"responses"`
}

// commandResponse is the plugin's answer to one command: Error is "" for
// success; Data carries what a listing returns.
type commandResponse struct {
	Command         string          `json:"command"`
	Error           string          `json:"error"`
	CorrelationData string          `json:"correlationData"`
	Data            json.RawMessage `json:"data"`
}

// The plugin's answers that mean "it is there already": provisioning the
// same identity again is not a failure.
const (
	errClientExists = "Client already exists"
	errRoleExists   = "Role already exists"
	errClientAbsent = "Client not found"
	errRoleAbsent   = "Role not found"
)

// control sends requests and matches their answers by correlation data.
type control struct {
	b    *Bus
	next atomic.Uint64

	mu      sync.Mutex
	waiting map[string]chan controlResponse
	closed  bool
}

func newControl(b *Bus) *control {
	return &control{b: b, waiting: make(map[string]chan controlResponse)}
}

// do sends cmds as one request and returns each command's error text ("" for
// success), in order.
func (c *control) do(cmds ...command) ([]string, error) {
	res, err := c.send(cmds...)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = r.Error
	}
	return out, nil
}

// send sends cmds as one request and returns each command's answer, in
// order.
func (c *control) send(cmds ...command) ([]commandResponse, error) {
	c.b.stats.controlRequests.Add(1)
	id := strconv.FormatUint(c.next.Add(1), 10)
	for i, cmd := range cmds {
		cmd["correlationData"] = id + "/" + strconv.Itoa(i)
	}
	body, err := json.Marshal(controlRequest{Commands: cmds})
	if err != nil {
		return nil, err
	}
	ch := make(chan controlResponse, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("mosquitto: the bus is closed")
	}
	c.waiting[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, id)
		c.mu.Unlock()
	}()
	tok := c.b.ctlClient.Publish(controlTopic, 1, false, body)
	if !tok.WaitTimeout(c.b.cfg.RequestTimeout) || tok.Error() != nil {
		c.b.stats.controlFailures.Add(1)
		return nil, fmt.Errorf("mosquitto: send %s: %v", commandNames(cmds), orTimeout(tok.Error()))
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, errors.New("mosquitto: the bus is closed")
		}
		out := make([]commandResponse, len(cmds))
		for _, resp := range r.Responses {
			_, idx, _ := strings.Cut(resp.CorrelationData, "/")
			if i, err := strconv.Atoi(idx); err == nil && i >= 0 && i < len(out) {
				out[i] = resp
			}
		}
		return out, nil
	case <-time.After(c.b.cfg.RequestTimeout):
		c.b.stats.controlFailures.Add(1)
		return nil, fmt.Errorf("mosquitto: %s: no answer from the dynamic-security plugin within %s: is it loaded, and does the admin role allow %s?",
			commandNames(cmds), c.b.cfg.RequestTimeout, controlTopic)
	}
}

func orTimeout(err error) error {
	if err == nil {
		return errors.New("not acknowledged in time")
	}
	return err
}

func commandNames(cmds []command) string {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i], _ = c["command"].(string)
	}
	return strings.Join(names, ", ")
}

// onResponse hands an answer to the request waiting for it.
func (c *control) onResponse(_ mqtt.Client, m mqtt.Message) {
	var r controlResponse
	if err := json.Unmarshal(m.Payload(), &r); err != nil || len(r.Responses) == 0 {
		c.b.log.Warn("unreadable answer from the dynamic-security plugin", "bytes", len(m.Payload()))
		return
	}
	id, _, _ := strings.Cut(r.Responses[0].CorrelationData, "/")
	c.mu.Lock()
	ch := c.waiting[id]
	c.mu.Unlock()
	if ch != nil {
		select {
		case ch <- r:
		default:
		}
	}
}

func (c *control) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for id, ch := range c.waiting {
		close(ch)
		delete(c.waiting, id)
	}
}

// ProvisionHost gives host id a client with password secret and its own role
// with the host ACL (acl.go). For a host that has a client already, the
// password is replaced and the client enabled: the newest secret is the one
// the agent has.
func (b *Bus) ProvisionHost(id, secret string) error {
	return b.provision(id, secret, hostRole(id), hostACL(id), "")
}

// ProvisionMonitor gives the monitor account username a client with password
// and the shared monitor role.
func (b *Bus) ProvisionMonitor(username, password string) error {
	return b.provision(username, password, MonitorRole, monitorACL(), "")
}

// provision creates role with acls unless it exists, and a client username
// (bound to the same client ID) holding it, or gives an existing client
// the new password. A note (a pending client's expiry, pending.go) goes in
// the client's textdescription, and replaces an existing client's.
func (b *Bus) provision(username, password, role string, acls []aclEntry, note string) error {
	create := command{"command": "createClient", "username": username, "password": password, "clientid": username,
		"roles": []map[string]any{{"rolename": role}}}
	if note != "" {
		create["textdescription"] = note
	}
	res, err := b.ctl.do(command{"command": "createRole", "rolename": role, "acls": acls}, create)
	if err != nil {
		return err
	}
	if res[0] != "" && res[0] != errRoleExists {
		return fmt.Errorf("mosquitto: create role %s: %s", role, res[0])
	}
	switch res[1] {
	case "":
		b.log.Info("client provisioned on the broker", "client", username, "role", role, "note", note)
		return nil
	case errClientExists:
		if note == "" {
			return b.replaceSecret(username, password, role)
		}
		res, err := b.ctl.do(command{"command": "modifyClient", "username": username, "password": password,
			"textdescription": note, "roles": []map[string]any{{"rolename": role}}})
		if err != nil {
			return err
		}
		if res[0] != "" {
			return fmt.Errorf("mosquitto: update client %s: %s", username, res[0])
		}
		b.log.Info("client's password and note replaced on the broker", "client", username, "note", note)
		return nil
	default:
		return fmt.Errorf("mosquitto: create client %s: %s", username, res[1])
	}
}

// replaceSecret sets an existing client's password and role and enables it.
func (b *Bus) replaceSecret(username, password, role string) error {
	res, err := b.ctl.do(
		command{"command": "setClientPassword", "username": username, "password": password},
		command{"command": "addClientRole", "username": username, "rolename": role},
		command{"command": "enableClient", "username": username},
	)
	if err != nil {
		return err
	}
	for i, e := range res {
		// addClientRole of a role the client has is refused as a duplicate
		// by some versions; the role is there either way.
		if e != "" && i != 1 {
			return fmt.Errorf("mosquitto: update client %s: %s", username, e)
		}
	}
	b.log.Info("client's secret replaced on the broker", "client", username)
	return nil
}

// Disconnect revokes a client: its dynamic-security client is deleted, which
// makes Mosquitto close its connection, and a host's own role with it. Its
// persistent session stays in Mosquitto until it expires, unreachable: no
// one can log in as it any more. Errors are logged; revocation in the store
// has happened already and must not fail for them.
func (b *Bus) Disconnect(clientID string) {
	cmds := []command{{"command": "deleteClient", "username": clientID}}
	switch {
	case topics.ValidHostID(clientID):
		cmds = append(cmds, command{"command": "deleteRole", "rolename": hostRole(clientID)})
	case topics.ValidPendingID(clientID):
		cmds = append(cmds, command{"command": "deleteRole", "rolename": pendingRole(clientID)})
	}
	res, err := b.ctl.do(cmds...)
	if err != nil {
		b.log.Error("revocation not applied on the broker", "client", clientID, "error", err)
		return
	}
	for i, e := range res {
		if e != "" && e != errClientAbsent && e != errRoleAbsent {
			b.log.Error("revocation not applied on the broker", "client", clientID, "command", cmds[i]["command"], "error", e)
			return
		}
	}
	b.log.Info("client revoked on the broker", "client", clientID)
}
