package server

import (
	"context"
	"regexp"
	"sync"
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
	hash, err := hashPassword(password)
	if err != nil {
		return nil, internal("Could not hash the password", err)
	}
	u := &User{Name: name, Role: role, PasswordHash: hash, CreatedAt: s.now()}
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)`,
			u.Name, u.Role, u.PasswordHash, u.CreatedAt)
		if err != nil {
			return err
		}
		u.ID, _ = res.LastInsertId()
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

// ListUsers returns all users by name.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	var out []User
	err := s.db.SelectContext(ctx, &out, `SELECT id, name, role, password_hash, created_at FROM users WHERE disabled_at IS NULL ORDER BY name`)
	if err != nil {
		return nil, internal("Could not list users", err)
	}
	return out, nil
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

// Login checks a name and password. Failures are throttled per name and per
// address (5 in 15 minutes), and the error never says which part was wrong.
func (s *Service) Login(ctx context.Context, name, password, remoteAddr string) (*User, error) {
	nameKey, addrKey := "u:"+name, "a:"+remoteAddr
	if s.logins.blocked(nameKey) || s.logins.blocked(addrKey) {
		return nil, &Error{Code: CodeRateLimited, Message: "Too many failed sign-ins; wait 15 minutes and try again, or ask an admin to reset your password."}
	}
	bad := &Error{Code: CodeUnauthorized, Message: "Wrong user name or password."}
	u, err := s.UserByName(ctx, name)
	if err != nil {
		if ErrorCodeOf(err) != CodeNotFound {
			return nil, err
		}
		// Spend the same time as a real check so timing does not reveal names.
		_, _ = verifyPassword(password, dummyHash())
		s.logins.fail(nameKey)
		s.logins.fail(addrKey)
		return nil, bad
	}
	ok, err := verifyPassword(password, u.PasswordHash)
	if err != nil {
		return nil, internal("Could not check the password", err)
	}
	if !ok {
		s.logins.fail(nameKey)
		s.logins.fail(addrKey)
		s.log.Warn("login failed", "user", name, "remote", remoteAddr)
		return nil, bad
	}
	s.logins.reset(nameKey)
	return u, nil
}

// dummyHash is made on first use: hashing costs 64 MiB and tens of
// milliseconds, which CLI subcommands should not pay at start-up.
var dummyHash = sync.OnceValue(func() string {
	h, _ := hashPassword("restic-manager timing equaliser")
	return h
})

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
