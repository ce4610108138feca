package server

import (
	"context"
	"time"
)

// Session lifetimes: a session ends after 12 hours without use or 7 days
// after sign-in, whichever comes first.
const (
	SessionIdle     = 12 * time.Hour
	SessionAbsolute = 7 * 24 * time.Hour
)

// Session is a signed-in browser. The cookie holds a random token; the store
// keeps only its hash, so a leaked database cannot be replayed as cookies.
type Session struct {
	UserID     int64     `db:"user_id"`
	CSRFToken  string    `db:"csrf_token"`
	RemoteAddr string    `db:"remote_addr"`
	CreatedAt  time.Time `db:"created_at"`
	LastUsedAt time.Time `db:"last_used_at"`
	ExpiresAt  time.Time `db:"expires_at"`
}

// CreateSession signs u in and returns the cookie token.
func (s *Service) CreateSession(ctx context.Context, u *User, remoteAddr, userAgent string) (string, *Session, error) {
	token := randomToken("rms_")
	now := s.now()
	sess := &Session{UserID: u.ID, CSRFToken: randomToken(""), RemoteAddr: remoteAddr, CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(SessionAbsolute)}
	if len(userAgent) > 200 {
		userAgent = userAgent[:200]
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, csrf_token, remote_addr, user_agent, created_at, last_used_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, tokenHash(token), sess.UserID, sess.CSRFToken, remoteAddr, userAgent, now, now, sess.ExpiresAt)
	if err != nil {
		return "", nil, internal("Could not start the session", err)
	}
	return token, sess, nil
}

// LookupSession returns the live session for a cookie token and its user.
func (s *Service) LookupSession(ctx context.Context, token string) (*Session, *User, error) {
	expired := &Error{Code: CodeUnauthorized, Message: "Your session has ended; sign in again."}
	if token == "" {
		return nil, nil, expired
	}
	var sess Session
	err := s.db.GetContext(ctx, &sess, `SELECT user_id, csrf_token, remote_addr, created_at, last_used_at, expires_at
		FROM sessions WHERE token_hash = ?`, tokenHash(token))
	if isNoRows(err) {
		return nil, nil, expired
	}
	if err != nil {
		return nil, nil, internal("Could not load the session", err)
	}
	now := s.now()
	if now.After(sess.ExpiresAt) || now.Sub(sess.LastUsedAt) > SessionIdle {
		_ = s.DeleteSession(ctx, token)
		return nil, nil, expired
	}
	u, err := s.userByID(ctx, sess.UserID)
	if isNoRows(err) {
		return nil, nil, expired
	}
	if err != nil {
		return nil, nil, internal("Could not load the session user", err)
	}
	// Touch at most once a minute: a page of HTMX requests should not be a write each.
	if now.Sub(sess.LastUsedAt) > time.Minute {
		sess.LastUsedAt = now
		_, _ = s.db.ExecContext(ctx, `UPDATE sessions SET last_used_at = ? WHERE token_hash = ?`, now, tokenHash(token))
	}
	return &sess, u, nil
}

// DeleteSession signs a session out.
func (s *Service) DeleteSession(ctx context.Context, token string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash(token)); err != nil {
		return internal("Could not end the session", err)
	}
	return nil
}

// pruneSessions deletes expired sessions; the sweeper calls it.
func (s *Service) pruneSessions(ctx context.Context) error {
	now := s.now()
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ? OR last_used_at < ?`, now, now.Add(-SessionIdle))
	return err
}
