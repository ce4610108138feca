package server

import (
	"context"

	"github.com/jmoiron/sqlx"
)

// The lifecycle of a user after CreateUser: admins disable, enable, delete,
// change roles and reset passwords; everyone changes their own password.
// Each change is one transaction with its audit row. Audit rows name actors
// and targets as text, so they outlive a deleted user.

// DisableUser stops a user from signing in or using their API tokens; their
// sessions end at once. The last enabled admin cannot be disabled, and
// nobody disables themselves (another admin can).
func (s *Service) DisableUser(ctx context.Context, a Actor, id int64) (*Account, error) {
	return s.changeUser(ctx, a, id, "user.disable", nil, func(tx *sqlx.Tx, u *Account) error {
		if u.ID == a.UserID {
			return conflictf("You cannot disable your own account; another admin can.")
		}
		if u.Disabled {
			return nil
		}
		if err := lastAdminGuard(ctx, tx, u, "disabled"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET disabled_at = ? WHERE id = ?`, s.now(), u.ID); err != nil {
			return err
		}
		return endSessions(ctx, tx, u.ID, "")
	})
}

// EnableUser lets a disabled user sign in again (with the same password and
// API tokens as before).
func (s *Service) EnableUser(ctx context.Context, a Actor, id int64) (*Account, error) {
	return s.changeUser(ctx, a, id, "user.enable", nil, func(tx *sqlx.Tx, u *Account) error {
		_, err := tx.ExecContext(ctx, `UPDATE users SET disabled_at = NULL WHERE id = ?`, u.ID)
		return err
	})
}

// DeleteUser removes a user with their sessions, API tokens and recovery
// codes. The audit log keeps every row that names them. The last enabled
// admin cannot be deleted, nor can an admin delete themselves.
func (s *Service) DeleteUser(ctx context.Context, a Actor, id int64) (*Account, error) {
	return s.changeUser(ctx, a, id, "user.delete", nil, func(tx *sqlx.Tx, u *Account) error {
		if u.ID == a.UserID {
			return conflictf("You cannot delete your own account; another admin can.")
		}
		if err := lastAdminGuard(ctx, tx, u, "deleted"); err != nil {
			return err
		}
		// Sessions, tokens, codes and challenges go by ON DELETE CASCADE.
		_, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, u.ID)
		return err
	})
}

// SetUserRole changes what a user may do. Their next request sees the new
// role (every request loads the user), and their open event streams end at
// once so pages re-read what the role shows. The last enabled admin cannot
// be demoted.
func (s *Service) SetUserRole(ctx context.Context, a Actor, id int64, role Role) (*Account, error) {
	if !role.Valid() {
		return nil, invalidf("Unknown role %q; use admin, operator or viewer.", role)
	}
	return s.changeUser(ctx, a, id, "user.role", map[string]any{"role": role}, func(tx *sqlx.Tx, u *Account) error {
		if role != RoleAdmin {
			if err := lastAdminGuard(ctx, tx, u, "demoted"); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE users SET role = ? WHERE id = ?`, role, u.ID)
		return err
	})
}

// ResetPassword sets a new password for a user (who lost theirs) and ends
// all their sessions. API tokens keep working: they are separate secrets.
func (s *Service) ResetPassword(ctx context.Context, a Actor, id int64, password string) (*Account, error) {
	if err := a.require(PermAdmin); err != nil {
		return nil, err
	}
	hash, err := s.newPasswordHash(password)
	if err != nil {
		return nil, err
	}
	return s.changeUser(ctx, a, id, "user.password_reset", nil, func(tx *sqlx.Tx, u *Account) error {
		return s.setPassword(ctx, tx, u.ID, hash, "")
	})
}

// ChangeOwnPassword lets the actor change their own password after proving
// the current one. The session keepToken (the one making the change) stays
// signed in; every other session of the user ends.
func (s *Service) ChangeOwnPassword(ctx context.Context, a Actor, current, password, keepToken string) error {
	if a.UserID == 0 {
		return invalidf("Only a signed-in user can change their own password; admins reset others' with 'restic-manager user passwd NAME'.")
	}
	u, err := s.userByID(ctx, a.UserID)
	if isNoRows(err) {
		return &Error{Code: CodeUnauthorized, Message: "Your session has ended; sign in again."}
	}
	if err != nil {
		return internal("Could not load your account", err)
	}
	if err := s.reauthenticate(a, u, current, "The current password is wrong; type it again, or ask an admin to reset it."); err != nil {
		return err
	}
	hash, err := s.newPasswordHash(password)
	if err != nil {
		return err
	}
	_, err = s.changeAccount(ctx, a, u.ID, "user.password_change", nil, func(tx *sqlx.Tx, _ *Account) error {
		return s.setPassword(ctx, tx, u.ID, hash, keepToken)
	})
	return err
}

// newPasswordHash checks a new password's length and hashes it.
func (s *Service) newPasswordHash(password string) (string, error) {
	if len(password) < MinPasswordLen {
		return "", invalidf("Passwords need at least %d characters; a few random words work well.", MinPasswordLen)
	}
	if len(password) > 1024 {
		return "", invalidf("Passwords are at most 1024 characters.")
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return "", internal("Could not hash the password", err)
	}
	return hash, nil
}

func (s *Service) setPassword(ctx context.Context, tx *sqlx.Tx, userID int64, hash, keepToken string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?`, hash, s.now(), userID); err != nil {
		return err
	}
	return endSessions(ctx, tx, userID, keepToken)
}
