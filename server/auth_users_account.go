package server

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
)

// EventUserChanged says a user was disabled, enabled, deleted, demoted or
// promoted, or that their password or sessions changed (Event.UserID names
// them; 0 means any user may have). Open event streams of that user re-check
// their session at once instead of at their next periodic check.
const EventUserChanged = "user.changed"

// Account is a user as the admin pages, the JSON API and the CLI list them:
// disabled users included, never a password hash or a TOTP secret.
type Account struct {
	ID            int64      `db:"id" json:"id"`
	Name          string     `db:"name" json:"name"`
	Role          Role       `db:"role" json:"role"`
	CreatedAt     time.Time  `db:"created_at" json:"created_at"`
	DisabledAt    *time.Time `db:"disabled_at" json:"disabled_at"`
	TOTPEnabledAt *time.Time `db:"totp_enabled_at" json:"totp_enabled_at"`
	Disabled      bool       `db:"-" json:"disabled"`
	TOTP          bool       `db:"-" json:"totp"`
}

const accountColumns = `id, name, role, created_at, disabled_at, totp_enabled_at`

func (a *Account) fill() *Account {
	a.Disabled, a.TOTP = a.DisabledAt != nil, a.TOTPEnabledAt != nil
	return a
}

// ListAccounts returns every user, disabled ones too, by name.
func (s *Service) ListAccounts(ctx context.Context) ([]Account, error) {
	var out []Account
	if err := s.db.SelectContext(ctx, &out, `SELECT `+accountColumns+` FROM users ORDER BY name`); err != nil {
		return nil, internal("Could not list users", err)
	}
	for i := range out {
		out[i].fill()
	}
	return out, nil
}

// Account returns one user by ID, disabled or not.
func (s *Service) Account(ctx context.Context, id int64) (*Account, error) {
	return s.loadAccount(ctx, s.db, `id = ?`, id, "There is no user with ID "+strconv.FormatInt(id, 10)+"; list them with GET /api/v1/users.")
}

// AccountByName returns one user by name, disabled or not.
func (s *Service) AccountByName(ctx context.Context, name string) (*Account, error) {
	return s.loadAccount(ctx, s.db, `name = ?`, name, "There is no user named "+strconv.Quote(name)+"; see 'restic-manager user list'.")
}

func (s *Service) loadAccount(ctx context.Context, q sqlx.QueryerContext, where string, arg any, missing string) (*Account, error) {
	var a Account
	err := sqlx.GetContext(ctx, q, &a, `SELECT `+accountColumns+` FROM users WHERE `+where, arg)
	if isNoRows(err) {
		return nil, notFoundf("%s", missing)
	}
	if err != nil {
		return nil, internal("Could not load the user", err)
	}
	return a.fill(), nil
}

// lastAdminGuard refuses a change that would leave no enabled admin: the
// target is an enabled admin and no other enabled admin exists. It runs in
// the change's transaction (an IMMEDIATE one: writers queue), so two admins
// demoting each other at once cannot both pass.
func lastAdminGuard(ctx context.Context, tx *sqlx.Tx, target *Account, what string) error {
	if target.Role != RoleAdmin || target.Disabled {
		return nil
	}
	var others int
	if err := tx.GetContext(ctx, &others, `SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id != ?`, target.ID); err != nil {
		return err
	}
	if others == 0 {
		return conflictf("%s is the last enabled admin and cannot be %s; make another user an admin first.", target.Name, what)
	}
	return nil
}

// usersGenerationKey names the settings row every user change increments, in
// the change's transaction. A server notices changes another process made
// (the CLI next to it) by watching it; see UsersGeneration.
const usersGenerationKey = "users.generation"

func bumpUsersGeneration(ctx context.Context, tx *sqlx.Tx) error {
	return bumpSetting(ctx, tx, usersGenerationKey)
}

// UsersGeneration is a number that grows with every change to a user's
// access, whichever process made it. The web layer polls it so that open
// event streams notice a user disabled from the command line.
func (s *Service) UsersGeneration(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.GetContext(ctx, &n, `SELECT COALESCE((SELECT `+s.db.dialect.blobInt(`value`)+` FROM settings WHERE key = ?), 0)`, usersGenerationKey)
	if err != nil {
		return 0, internal("Could not read the users generation", err)
	}
	return n, nil
}

// changeUser runs change for the user id in one transaction with the audit
// row and the generation bump, then tells open streams. change gets the
// user as it was before.
func (s *Service) changeUser(ctx context.Context, a Actor, id int64, action string, details map[string]any,
	change func(tx *sqlx.Tx, u *Account) error) (*Account, error) {
	if err := a.require(PermAdmin); err != nil {
		return nil, err
	}
	return s.changeAccount(ctx, a, id, action, details, change)
}

// changeAccount is changeUser without the admin check, for changes users
// make to their own account.
func (s *Service) changeAccount(ctx context.Context, a Actor, id int64, action string, details map[string]any,
	change func(tx *sqlx.Tx, u *Account) error) (*Account, error) {
	var target *Account
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		target, err = s.loadAccount(ctx, tx, `id = ?`, id, "There is no user with ID "+strconv.FormatInt(id, 10)+"; it may have been deleted.")
		if err != nil {
			return err
		}
		if err := change(tx, target); err != nil {
			return err
		}
		if err := bumpUsersGeneration(ctx, tx); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, action, target.Name, details)
	})
	if err != nil {
		if e := (*Error)(nil); errors.As(err, &e) {
			return nil, err
		}
		return nil, internal("Could not change the user", err)
	}
	s.events.Publish(Event{Kind: EventUserChanged, UserID: id})
	return target, nil
}

// endSessions deletes a user's sessions (all but keepToken's, when given)
// and pending sign-ins. Each request looks its session up, so the next one
// of an ended session is refused, in this process or any other.
func endSessions(ctx context.Context, tx *sqlx.Tx, userID int64, keepToken string) error {
	keep := []byte{}
	if keepToken != "" {
		keep = tokenHash(keepToken)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND token_hash != ?`, userID, keep); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM login_challenges WHERE user_id = ?`, userID)
	return err
}
