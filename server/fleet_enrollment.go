package server

import (
	"context"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Enrollment token lifetimes (DESIGN §4.1).
const (
	DefaultTokenTTL = time.Hour
	MaxTokenTTL     = 7 * 24 * time.Hour
	tokenPrefix     = "rme_"
)

// EnrollmentToken is a single-use invitation for one machine.
type EnrollmentToken struct {
	ID        int64      `db:"id" json:"id"`
	HostName  string     `db:"host_name" json:"host_name"`
	CreatedBy string     `db:"created_by" json:"created_by"`
	CreatedAt time.Time  `db:"created_at" json:"created_at"`
	ExpiresAt time.Time  `db:"expires_at" json:"expires_at"`
	UsedAt    *time.Time `db:"used_at" json:"used_at,omitempty"`
	HostID    *string    `db:"host_id" json:"host_id,omitempty"`
	RevokedAt *time.Time `db:"revoked_at" json:"revoked_at,omitempty"`
}

// CreateEnrollmentToken makes a token for a host to be called hostName. ttl 0
// means DefaultTokenTTL. The token is returned once; only its hash is kept.
func (s *Service) CreateEnrollmentToken(ctx context.Context, a Actor, hostName string, ttl time.Duration) (string, *EnrollmentToken, error) {
	if err := a.require(PermConfigure); err != nil {
		return "", nil, err
	}
	if err := ValidateHostName(hostName); err != nil {
		return "", nil, err
	}
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	if ttl < time.Minute || ttl > MaxTokenTTL {
		return "", nil, invalidf("Token lifetimes run from 1 minute to 7 days (got %s).", ttl)
	}
	if taken, err := s.hostNameTaken(ctx, hostName); err != nil {
		return "", nil, internal("Could not check the host name", err)
	} else if taken {
		return "", nil, conflictf("A host named %q already exists; pick another name.", hostName)
	}
	token := randomToken(tokenPrefix)
	now := s.now()
	t := &EnrollmentToken{HostName: hostName, CreatedBy: a.Name, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &t.ID, `INSERT INTO enrollment_tokens (token_hash, host_name, created_by, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?) RETURNING id`, tokenHash(token), t.HostName, t.CreatedBy, t.CreatedAt, t.ExpiresAt); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "enrollment_token.create", hostName, map[string]any{"token_id": t.ID, "ttl": ttl.String()})
	})
	if err != nil {
		return "", nil, internal("Could not create the enrollment token", err)
	}
	s.events.Publish(Event{Kind: EventTokenChanged})
	return token, t, nil
}

// ListEnrollmentTokens returns tokens that can still be used, soonest expiry first.
func (s *Service) ListEnrollmentTokens(ctx context.Context) ([]EnrollmentToken, error) {
	var out []EnrollmentToken
	err := s.db.SelectContext(ctx, &out, `SELECT id, host_name, created_by, created_at, expires_at, used_at, host_id, revoked_at
		FROM enrollment_tokens WHERE used_at IS NULL AND revoked_at IS NULL AND expires_at > ? ORDER BY expires_at`, s.now())
	if err != nil {
		return nil, internal("Could not list enrollment tokens", err)
	}
	return out, nil
}

// RevokeEnrollmentToken makes an unused token unusable.
func (s *Service) RevokeEnrollmentToken(ctx context.Context, a Actor, id int64) error {
	if err := a.require(PermConfigure); err != nil {
		return err
	}
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE enrollment_tokens SET revoked_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL`, s.now(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFoundf("There is no unused enrollment token %d.", id)
		}
		return s.audit(ctx, tx, a, "enrollment_token.revoke", "", map[string]any{"token_id": id})
	})
	if err != nil && ErrorCodeOf(err) == CodeInternal {
		return internal("Could not revoke the token", err)
	}
	if err == nil {
		s.events.Publish(Event{Kind: EventTokenChanged})
	}
	return err
}

// EnrollRequest is what an agent sends with its token.
type EnrollRequest struct {
	Token         string
	Hostname      string
	OS            string
	Arch          string
	AgentVersion  string
	ResticVersion string
	RemoteAddr    string
}

// EnrollResult is what the agent needs to connect. MQTTPassword is shown
// exactly once, in this response; the store keeps only its hash.
type EnrollResult struct {
	HostID       string
	HostName     string
	MQTTPassword string
}

// Enroll exchanges a token for a new host and its MQTT credentials. A reused,
// expired, revoked or unknown token creates nothing.
func (s *Service) Enroll(ctx context.Context, r EnrollRequest) (*EnrollResult, error) {
	wire := topics.EnrollRequest{Token: r.Token, Hostname: r.Hostname, OS: r.OS, Arch: r.Arch,
		AgentVersion: r.AgentVersion, ResticVersion: r.ResticVersion}
	if err := wire.Validate(); err != nil {
		return nil, invalidf("The enrollment request is refused (%v); run the agent's enroll command again with a fresh copy of the token.", err)
	}
	res := &EnrollResult{}
	now := s.now()
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var t EnrollmentToken
		err := tx.GetContext(ctx, &t, `SELECT id, host_name, created_by, created_at, expires_at, used_at, host_id, revoked_at
			FROM enrollment_tokens WHERE token_hash = ?`, tokenHash(r.Token))
		switch {
		case isNoRows(err):
			return &Error{Code: CodeUnauthorized, Message: "The enrollment token is unknown; copy it again or create a new one on the Enroll page."}
		case err != nil:
			return err
		case t.UsedAt != nil:
			return &Error{Code: CodeConflict, Message: "This enrollment token was already used; create a new one on the Enroll page."}
		case t.RevokedAt != nil:
			return &Error{Code: CodeUnauthorized, Message: "This enrollment token was revoked; create a new one on the Enroll page."}
		case !now.Before(t.ExpiresAt):
			return &Error{Code: CodeUnauthorized, Message: "This enrollment token has expired; create a new one on the Enroll page."}
		}
		res.HostName = t.HostName
		id, secret, err := s.createHost(ctx, tx, newHost{Name: t.HostName, Hostname: r.Hostname, OS: r.OS, Arch: r.Arch,
			AgentVersion: r.AgentVersion, ResticVersion: r.ResticVersion, RemoteAddr: r.RemoteAddr, CreatedAt: now})
		if errors.Is(err, errHostNameTaken) {
			return conflictf("A host named %q was enrolled meanwhile; create a token with another name.", t.HostName)
		} else if err != nil {
			return err
		}
		res.HostID, res.MQTTPassword = id, secret
		if _, err := tx.ExecContext(ctx, `UPDATE enrollment_tokens SET used_at = ?, host_id = ? WHERE id = ?`, now, res.HostID, t.ID); err != nil {
			return err
		}
		agent := Actor{Name: "agent:" + r.Hostname, Via: "agent", RemoteAddr: r.RemoteAddr}
		return s.audit(ctx, tx, agent, "host.enroll", t.HostName, map[string]any{"host_id": res.HostID, "token_id": t.ID,
			"os": r.OS, "arch": r.Arch, "agent_version": r.AgentVersion})
	})
	if err != nil {
		if ErrorCodeOf(err) == CodeInternal {
			return nil, internal("Could not enroll the host", err)
		}
		return nil, err
	}
	s.log.Info("host enrolled", "host", res.HostID, "name", res.HostName, "remote", r.RemoteAddr)
	s.events.Publish(Event{Kind: EventHostCreated, HostID: res.HostID})
	s.events.Publish(Event{Kind: EventTokenChanged})
	return res, nil
}
