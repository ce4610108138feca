package server

import (
	"context"
	"strings"

	"github.com/jmoiron/sqlx"
)

// APITokenPrefix starts every API token, so a leaked one is recognisable.
const APITokenPrefix = "rmt_"

// CreateAPIToken makes a bearer token that acts as the named user (with that
// user's role). Only admins may. The token is returned once; only its hash is kept.
func (s *Service) CreateAPIToken(ctx context.Context, a Actor, userName, label string) (string, error) {
	if err := a.require(PermAdmin); err != nil {
		return "", err
	}
	if len(label) > 100 {
		return "", invalidf("Token labels are at most 100 characters.")
	}
	u, err := s.UserByName(ctx, userName)
	if err != nil {
		return "", err
	}
	token := randomToken(APITokenPrefix)
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (token_hash, user_id, label, created_at) VALUES (?, ?, ?, ?)`,
			tokenHash(token), u.ID, label, s.now()); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "apitoken.create", userName, map[string]any{"label": label})
	})
	if err != nil {
		return "", internal("Could not create the API token", err)
	}
	return token, nil
}

// LookupAPIToken returns the user a bearer token acts as.
func (s *Service) LookupAPIToken(ctx context.Context, token string) (*User, error) {
	bad := &Error{Code: CodeUnauthorized, Message: "The API token is missing, unknown or revoked; create one with 'restic-manager apitoken create'."}
	if !strings.HasPrefix(token, APITokenPrefix) {
		return nil, bad
	}
	var userID int64
	err := s.db.GetContext(ctx, &userID, `SELECT user_id FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL`, tokenHash(token))
	if isNoRows(err) {
		return nil, bad
	}
	if err != nil {
		return nil, internal("Could not check the API token", err)
	}
	u, err := s.userByID(ctx, userID)
	if isNoRows(err) {
		return nil, bad
	}
	if err != nil {
		return nil, internal("Could not load the token's user", err)
	}
	return u, nil
}
