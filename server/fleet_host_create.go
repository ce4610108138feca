package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// newHost is what creating a host needs. Both ways onto the fleet fill it:
// token enrollment (Enroll) and announce-and-approve (AcceptPendingHost).
type newHost struct {
	Name          string // display name, already validated and unique-checked by the caller
	Hostname      string // what the agent reported
	OS            string
	Arch          string
	AgentVersion  string
	ResticVersion string
	RemoteAddr    string
	CreatedAt     time.Time
}

// errHostNameTaken is createHost's answer when the name is in use; callers
// turn it into a sentence that fits their flow.
var errHostNameTaken = errors.New("host name taken")

// createHost inserts a host with a fresh ID and MQTT secret inside tx and
// returns both. The store keeps only the secret's hash, so the secret must
// reach the agent from the caller's response (or sealed to its key) and is
// never seen again.
func (s *Service) createHost(ctx context.Context, tx *sqlx.Tx, h newHost) (id, secret string, err error) {
	id = topics.RandomID(topics.HostIDPrefix)
	secret, err = newMQTTSecret()
	if err != nil {
		return "", "", err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO hosts (id, name, hostname, os, arch, agent_version, restic_version, mqtt_secret_hash, created_at, remote_addr)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, h.Name, h.Hostname, h.OS, h.Arch, h.AgentVersion, h.ResticVersion,
		tokenHash(secret), h.CreatedAt, h.RemoteAddr)
	if isUniqueViolation(err) {
		return "", "", errHostNameTaken
	}
	if err != nil {
		return "", "", fmt.Errorf("store: insert host %s: %w", h.Name, err)
	}
	if err := s.provisionHost(id, secret); err != nil {
		return "", "", err
	}
	return id, secret, nil
}

// newMQTTSecret is a host's MQTT password: 256 random bits, so a fast hash
// is enough to store it (see the hosts table).
func newMQTTSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", internal("Could not make a secret", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
