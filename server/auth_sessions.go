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
	// MustEnrolTOTP is set when admins must use TOTP (SetRequireTOTPForAdmins)
	// and this session's user is an admin without it: the web layer sends
	// them to enrol before anything else.
	MustEnrolTOTP bool `db:"-"`
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
// The user is read on every call (one query with the session), so a user
// disabled, deleted or demoted meanwhile is refused or sees the new role on
// their very next request, whichever process made the change.
func (s *Service) LookupSession(ctx context.Context, token string) (*Session, *User, error) {
	expired := &Error{Code: CodeUnauthorized, Message: "Your session has ended; sign in again."}
	if token == "" {
		return nil, nil, expired
	}
	var sess Session
	var u User
	var totp, requireTOTP bool
	err := s.db.QueryRowxContext(ctx, `SELECT s.user_id, s.csrf_token, s.remote_addr, s.created_at, s.last_used_at, s.expires_at,
			u.name, u.role, u.password_hash, u.created_at, u.totp_enabled_at IS NOT NULL,
			COALESCE((SELECT `+s.db.dialect.blobText(`value`)+` = '1' FROM settings WHERE key = ?), FALSE)
		FROM sessions s JOIN users u ON u.id = s.user_id AND u.disabled_at IS NULL
		WHERE s.token_hash = ?`, requireTOTPKey, tokenHash(token)).Scan(
		&sess.UserID, &sess.CSRFToken, &sess.RemoteAddr, &sess.CreatedAt, &sess.LastUsedAt, &sess.ExpiresAt,
		&u.Name, &u.Role, &u.PasswordHash, &u.CreatedAt, &totp, &requireTOTP)
	if isNoRows(err) {
		return nil, nil, expired
	}
	if err != nil {
		return nil, nil, internal("Could not load the session", err)
	}
	u.ID = sess.UserID
	now := s.now()
	if now.After(sess.ExpiresAt) || now.Sub(sess.LastUsedAt) > SessionIdle {
		_ = s.DeleteSession(ctx, token)
		return nil, nil, expired
	}
	sess.MustEnrolTOTP = requireTOTP && u.Role == RoleAdmin && !totp
	// Touch at most once a minute: a page of HTMX requests should not be a write each.
	if now.Sub(sess.LastUsedAt) > time.Minute {
		sess.LastUsedAt = now
		_, _ = s.db.ExecContext(ctx, `UPDATE sessions SET last_used_at = ? WHERE token_hash = ?`, now, tokenHash(token))
	}
	return &sess, &u, nil
}

// DeleteSession signs a session out.
func (s *Service) DeleteSession(ctx context.Context, token string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash(token)); err != nil {
		return internal("Could not end the session", err)
	}
	return nil
}

// pruneSessions deletes expired sessions and sign-in challenges; the
// sweeper calls it.
func (s *Service) pruneSessions(ctx context.Context) error {
	now := s.now()
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ? OR last_used_at < ?`, now, now.Add(-SessionIdle)); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `DELETE FROM login_challenges WHERE expires_at < ?`, now)
	return err
}
