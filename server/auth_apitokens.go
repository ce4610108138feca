package server

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// APITokenPrefix starts every API token, so a leaked one is recognisable.
const APITokenPrefix = "rmt_"

// APIToken is an API token as lists show it: never the token itself (only
// its hash is stored). Revoked tokens are not listed.
type APIToken struct {
	ID           int64      `db:"id" json:"id"`
	Label        string     `db:"label" json:"label"`
	UserID       int64      `db:"user_id" json:"user_id"`
	User         string     `db:"user_name" json:"user"`
	UserDisabled bool       `db:"user_disabled" json:"user_disabled"` // a disabled user's tokens do not work
	CreatedAt    time.Time  `db:"created_at" json:"created_at"`
	LastUsedAt   *time.Time `db:"last_used_at" json:"last_used_at"`
}

// apiTokenTouchEvery is how often a token's last use is written at most:
// a script polling every second should not be a write each time.
const apiTokenTouchEvery = time.Minute

// CreateAPIToken makes a bearer token that acts as the named user (with that
// user's role). Only admins may. The token is returned once; only its hash is kept.
func (s *Service) CreateAPIToken(ctx context.Context, a Actor, userName, label string) (string, error) {
	token, _, err := s.IssueAPIToken(ctx, a, userName, label)
	return token, err
}

// IssueAPIToken is CreateAPIToken that also returns the new token's listing.
func (s *Service) IssueAPIToken(ctx context.Context, a Actor, userName, label string) (string, *APIToken, error) {
	if err := a.require(PermAdmin); err != nil {
		return "", nil, err
	}
	if len(label) > 100 {
		return "", nil, invalidf("Token labels are at most 100 characters.")
	}
	u, err := s.UserByName(ctx, userName)
	if err != nil {
		return "", nil, err
	}
	token := randomToken(APITokenPrefix)
	t := &APIToken{Label: label, UserID: u.ID, User: u.Name, CreatedAt: s.now()}
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &t.ID, `INSERT INTO api_tokens (token_hash, user_id, label, created_at) VALUES (?, ?, ?, ?)
			RETURNING id`, tokenHash(token), u.ID, label, t.CreatedAt); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "apitoken.create", userName, map[string]any{"label": label, "id": t.ID})
	})
	if err != nil {
		return "", nil, internal("Could not create the API token", err)
	}
	return token, t, nil
}

// ListAPITokens returns the tokens that are not revoked, oldest first.
func (s *Service) ListAPITokens(ctx context.Context) ([]APIToken, error) {
	var out []APIToken
	err := s.db.SelectContext(ctx, &out, `SELECT t.id, t.label, t.user_id, u.name AS user_name, u.disabled_at IS NOT NULL AS user_disabled,
			t.created_at, t.last_used_at
		FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.revoked_at IS NULL ORDER BY t.id`)
	if err != nil {
		return nil, internal("Could not list API tokens", err)
	}
	return out, nil
}

// RevokeAPIToken ends a token for good. Only admins may.
func (s *Service) RevokeAPIToken(ctx context.Context, a Actor, id int64) error {
	if err := a.require(PermAdmin); err != nil {
		return err
	}
	missing := notFoundf("There is no API token %d, or it is already revoked; list them with 'restic-manager apitoken list'.", id)
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var t APIToken
		err := tx.GetContext(ctx, &t, `SELECT t.id, t.label, u.name AS user_name FROM api_tokens t JOIN users u ON u.id = t.user_id
			WHERE t.id = ? AND t.revoked_at IS NULL`, id)
		if isNoRows(err) {
			return missing
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ?`, s.now(), id); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "apitoken.revoke", t.User, map[string]any{"id": id, "label": t.Label})
	})
	if err == missing {
		return err
	}
	if err != nil {
		return internal("Could not revoke API token "+strconv.FormatInt(id, 10), err)
	}
	return nil
}

// LookupAPIToken returns the user a bearer token acts as. A revoked token,
// or one whose user is disabled or deleted, is refused. The token's last use
// is recorded, at most once a minute.
func (s *Service) LookupAPIToken(ctx context.Context, token string) (*User, error) {
	bad := &Error{Code: CodeUnauthorized, Message: "The API token is missing, unknown or revoked; create one with 'restic-manager apitoken create'."}
	if !strings.HasPrefix(token, APITokenPrefix) {
		return nil, bad
	}
	var row struct {
		ID       int64      `db:"id"`
		UserID   int64      `db:"user_id"`
		LastUsed *time.Time `db:"last_used_at"`
	}
	err := s.db.GetContext(ctx, &row, `SELECT id, user_id, last_used_at FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL`, tokenHash(token))
	if isNoRows(err) {
		return nil, bad
	}
	if err != nil {
		return nil, internal("Could not check the API token", err)
	}
	u, err := s.userByID(ctx, row.UserID)
	if isNoRows(err) {
		return nil, bad
	}
	if err != nil {
		return nil, internal("Could not load the token's user", err)
	}
	if now := s.now(); row.LastUsed == nil || now.Sub(*row.LastUsed) >= apiTokenTouchEvery {
		// Best effort, like a session's last use: a busy database must not
		// turn a valid token away.
		_, _ = s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, now, row.ID)
	}
	return u, nil
}
