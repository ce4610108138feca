package server

import (
	"context"
	"errors"
	"regexp"
	"time"

	"github.com/jmoiron/sqlx"
)

// User is a person (or automation) using the dashboard or the API.
type User struct {
	ID           int64     `db:"id" json:"id"`
	Name         string    `db:"name" json:"name"`
	Role         Role      `db:"role" json:"role"`
	PasswordHash string    `db:"password_hash" json:"-"`
	CreatedAt    time.Time `db:"created_at" json:"created_at"`
}

var userNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,63}$`)

// CreateUser adds a user. Only admins may; the audit row names the new user
// and role, never the password.
func (s *Service) CreateUser(ctx context.Context, a Actor, name string, role Role, password string) (*User, error) {
	if err := a.require(PermAdmin); err != nil {
		return nil, err
	}
	if !userNameRE.MatchString(name) {
		return nil, invalidf("User names are 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit.")
	}
	if !role.Valid() {
		return nil, invalidf("Unknown role %q; use admin, operator or viewer.", role)
	}
	if len(password) < MinPasswordLen {
		return nil, invalidf("Passwords need at least %d characters.", MinPasswordLen)
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return nil, internal("Could not hash the password", err)
	}
	u := &User{Name: name, Role: role, PasswordHash: hash, CreatedAt: s.now()}
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &u.ID, `INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)
			RETURNING id`, u.Name, u.Role, u.PasswordHash, u.CreatedAt); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "user.create", name, map[string]any{"role": role})
	})
	if isUniqueViolation(err) {
		return nil, conflictf("A user named %q already exists; pick another name.", name)
	}
	if err != nil {
		return nil, internal("Could not create the user", err)
	}
	return u, nil
}

// UserByName finds an active user.
func (s *Service) UserByName(ctx context.Context, name string) (*User, error) {
	var u User
	err := s.db.GetContext(ctx, &u, `SELECT id, name, role, password_hash, created_at FROM users WHERE name = ? AND disabled_at IS NULL`, name)
	if isNoRows(err) {
		return nil, notFoundf("There is no user named %q.", name)
	}
	if err != nil {
		return nil, internal("Could not load the user", err)
	}
	return &u, nil
}

func (s *Service) userByID(ctx context.Context, id int64) (*User, error) {
	var u User
	err := s.db.GetContext(ctx, &u, `SELECT id, name, role, password_hash, created_at FROM users WHERE id = ? AND disabled_at IS NULL`, id)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// Login checks a name and password. Attempts are counted before the
// password is hashed, per address and per (address, name) (auth_login_throttle.go);
// a refusal says how long to wait. An unknown name costs the same hash as a
// known one, and the error never says which part was wrong. When the server
// cannot check the password (store failing, every hash slot busy) the
// attempt is given back and the error says to retry.
func (s *Service) Login(ctx context.Context, name, password, remoteAddr string) (*User, error) {
	attempt, err := s.logins.begin(remoteAddr, name)
	if err != nil {
		return nil, err
	}
	u, err := s.UserByName(ctx, name)
	if err != nil && ErrorCodeOf(err) != CodeNotFound {
		attempt.refund()
		return nil, err
	}
	hash := s.dummyHash()
	if u != nil {
		hash = u.PasswordHash
	}
	ok, err := verifyPassword(password, hash)
	switch {
	case errors.Is(err, errHashBusy):
		attempt.refund()
		return nil, &Error{Code: CodeUnavailable, RetryAfter: hashWait, Err: err,
			Message: "The server is busy checking other sign-ins; try again in a few seconds."}
	case err != nil:
		attempt.refund()
		return nil, internal("Could not check the password", err)
	case !ok || u == nil:
		attempt.failed()
		s.log.Warn("login failed", "user", name, "remote", remoteAddr)
		return nil, &Error{Code: CodeUnauthorized, Message: "Wrong user name or password."}
	}
	attempt.succeeded()
	return u, nil
}

// EnsureAdmin creates the user "admin" when there are no users at all. The
// password is RM_ADMIN_PASSWORD when given (pass it in), else a random one.
// It returns the password it set, or "" when users already existed.
func (s *Service) EnsureAdmin(ctx context.Context, password string) (string, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM users`); err != nil {
		return "", internal("Could not count users", err)
	}
	if n > 0 {
		return "", nil
	}
	if password == "" {
		password = RandomPassword()
	}
	if _, err := s.CreateUser(ctx, SystemActor(), "admin", RoleAdmin, password); err != nil {
		return "", err
	}
	return password, nil
}
