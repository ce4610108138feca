package server

import (
	"context"
	"regexp"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

var monitorNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{1,40}$`)

// MonitorUsername is the MQTT username (and client ID) of monitor account name.
func MonitorUsername(name string) string { return topics.MonitorPrefix + name }

// CreateMonitorAccount makes an MQTT account that may only subscribe to
// rm/v1/monitor/#, and returns its password (shown once; only a hash is kept).
func (s *Service) CreateMonitorAccount(ctx context.Context, a Actor, name string) (string, error) {
	if err := a.require(PermAdmin); err != nil {
		return "", err
	}
	if !monitorNameRE.MatchString(name) {
		return "", invalidf("Monitor names are 2-41 lowercase letters, digits, '_' or '-'.")
	}
	password := randomToken("")
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO monitor_accounts (name, secret_hash, created_at) VALUES (?, ?, ?)`,
			name, tokenHash(password), s.now()); err != nil {
			return err
		}
		if err := s.provisionMonitor(MonitorUsername(name), password); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "monitor.create", name, map[string]any{"mqtt_username": MonitorUsername(name)})
	})
	if isUniqueViolation(err) {
		return "", conflictf("A monitor account named %q already exists.", name)
	}
	if err != nil {
		return "", internal("Could not create the monitor account", err)
	}
	return password, nil
}

// MQTTKind says which ACL row an authenticated MQTT client gets.
type MQTTKind int

// MQTT client kinds.
const (
	MQTTHost MQTTKind = iota + 1
	MQTTMonitor
	// MQTTPending is an announce-and-approve client (p_...). It has no
	// secret yet: the broker's ACL confines it to its own announce topics,
	// and what it learns there is sealed to its key.
	MQTTPending
)

// AuthenticateMQTT checks an MQTT username and password against hosts and
// monitor accounts. Revoked hosts and accounts are refused. A well-formed
// pending client ID is accepted with any non-empty password: it proves
// possession of its key inside the announce exchange (HandleAnnounce), and
// the cap on pending hosts is enforced there with an answer the agent can
// show, rather than here, where a refusal would read "not authorized" and
// count against the whole site's address in the broker. The comparison is
// of SHA-256 digests looked up by primary key, so it leaks nothing useful
// through timing and stays cheap when thousands of agents reconnect at once.
func (s *Service) AuthenticateMQTT(ctx context.Context, username string, password []byte) (MQTTKind, error) {
	denied := &Error{Code: CodeUnauthorized, Message: "bad MQTT credentials"}
	if len(password) == 0 || len(password) > 256 {
		return 0, denied
	}
	var query, key string
	var kind MQTTKind
	switch {
	case topics.ValidHostID(username):
		kind, key = MQTTHost, username
		query = `SELECT COUNT(*) FROM hosts WHERE id = ? AND mqtt_secret_hash = ? AND revoked_at IS NULL`
	case topics.ValidPendingID(username):
		return MQTTPending, nil
	case strings.HasPrefix(username, topics.MonitorPrefix):
		kind, key = MQTTMonitor, strings.TrimPrefix(username, topics.MonitorPrefix)
		query = `SELECT COUNT(*) FROM monitor_accounts WHERE name = ? AND secret_hash = ? AND revoked_at IS NULL`
	default:
		return 0, denied
	}
	digest := tokenHash(string(password))
	// A secret the store accepted before is accepted from memory
	// (fleet_mqttauth_cache.go).
	cached, hit, gen := s.creds.lookup(username, digest)
	if hit {
		return cached, nil
	}
	var n int
	if err := s.db.getPrepared(ctx, &n, query, key, digest); err != nil {
		return 0, internal("MQTT auth lookup", err)
	}
	if n != 1 {
		return 0, denied
	}
	s.creds.store(username, digest, kind, gen)
	return kind, nil
}
