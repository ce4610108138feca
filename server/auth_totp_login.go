package server

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jmoiron/sqlx"
)

// Signing in with a second factor is two steps. Login checks the password;
// BeginSecondFactor then makes a short-lived challenge (a random token the
// browser keeps in a cookie) instead of a session; CompleteSecondFactor takes
// the code and only then returns the user the web layer starts a session for.
const (
	// SignInChallengeTTL is how long the code step waits after the password.
	SignInChallengeTTL = 5 * time.Minute
	// challengeAttempts is how many wrong codes one challenge takes; then
	// the password must be entered again (which Login throttles).
	challengeAttempts = 5
	// totpFailLimit wrong codes per totpFailWindow lock the second step of
	// an account, whichever challenges they came through: knowing the
	// password must not buy unlimited guesses at six digits.
	totpFailLimit  = 10
	totpFailWindow = 15 * time.Minute
	// ChallengePrefix starts every challenge token.
	ChallengePrefix = "rmc_"
)

// BeginSecondFactor returns a challenge token when u has TOTP on, or "" when
// the password was enough (start the session at once).
func (s *Service) BeginSecondFactor(ctx context.Context, u *User, remoteAddr string) (string, error) {
	var on bool
	if err := s.db.GetContext(ctx, &on, `SELECT totp_enabled_at IS NOT NULL FROM users WHERE id = ?`, u.ID); err != nil {
		return "", internal("Could not load the account", err)
	}
	if !on {
		return "", nil
	}
	token := randomToken(ChallengePrefix)
	now := s.now()
	_, err := s.db.ExecContext(ctx, `INSERT INTO login_challenges (token_hash, user_id, remote_addr, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		tokenHash(token), u.ID, remoteAddr, now, now.Add(SignInChallengeTTL))
	if err != nil {
		return "", internal("Could not start the sign-in", err)
	}
	return token, nil
}

// ChallengeUser names the user a live challenge belongs to (for the code
// page), or fails as an ended sign-in.
func (s *Service) ChallengeUser(ctx context.Context, token string) (string, error) {
	var name string
	err := s.db.GetContext(ctx, &name, `SELECT u.name FROM login_challenges c JOIN users u ON u.id = c.user_id AND u.disabled_at IS NULL
		WHERE c.token_hash = ? AND c.expires_at > ?`, tokenHash(token), s.now())
	if isNoRows(err) {
		return "", challengeEnded()
	}
	if err != nil {
		return "", internal("Could not load the sign-in", err)
	}
	return name, nil
}

func challengeEnded() error {
	return &Error{Code: CodeUnauthorized, Message: "This sign-in has ended (it waits 5 minutes for the code); enter your user name and password again."}
}

// CompleteSecondFactor checks a TOTP code, or a recovery code (each works
// once), for the challenge token. On success the challenge is gone and the
// user is returned; a wrong code counts against the challenge and the account.
func (s *Service) CompleteSecondFactor(ctx context.Context, token, code string) (*User, error) {
	if token == "" {
		return nil, challengeEnded()
	}
	var user *User
	var refusal error
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var c struct {
			UserID    int64     `db:"user_id"`
			ExpiresAt time.Time `db:"expires_at"`
			Attempts  int       `db:"attempts"`
		}
		err := tx.GetContext(ctx, &c, `SELECT user_id, expires_at, attempts FROM login_challenges WHERE token_hash = ?`, tokenHash(token))
		if isNoRows(err) {
			refusal = challengeEnded()
			return nil
		}
		if err != nil {
			return err
		}
		now := s.now()
		if !now.Before(c.ExpiresAt) {
			_, err := tx.ExecContext(ctx, `DELETE FROM login_challenges WHERE token_hash = ?`, tokenHash(token))
			refusal = challengeEnded()
			return err
		}
		var u struct {
			User
			Secret        []byte     `db:"totp_secret"`
			LastStep      int64      `db:"totp_last_step"`
			Failures      int        `db:"totp_failures"`
			FailuresSince *time.Time `db:"totp_failures_since"`
		}
		err = tx.GetContext(ctx, &u, `SELECT id, name, role, password_hash, created_at, COALESCE(totp_secret, `+dialectOf(tx).emptyBlob()+`) AS totp_secret,
			totp_last_step, totp_failures, totp_failures_since FROM users WHERE id = ? AND disabled_at IS NULL`, c.UserID)
		if isNoRows(err) || (err == nil && len(u.Secret) == 0) {
			// Disabled, deleted or TOTP reset meanwhile: start again.
			_, err := tx.ExecContext(ctx, `DELETE FROM login_challenges WHERE token_hash = ?`, tokenHash(token))
			refusal = challengeEnded()
			return err
		}
		if err != nil {
			return err
		}
		inWindow := u.FailuresSince != nil && now.Sub(*u.FailuresSince) < totpFailWindow
		if inWindow && u.Failures >= totpFailLimit {
			wait := int(math.Ceil(totpFailWindow.Minutes() - now.Sub(*u.FailuresSince).Minutes()))
			refusal = &Error{Code: CodeRateLimited, Message: fmt.Sprintf("Too many wrong codes for this account; wait %d minutes, then try again.", wait)}
			return nil
		}
		secret, err := s.box.Open(u.Secret, totpSecretAADPrefix+fmt.Sprint(u.ID))
		if err != nil {
			return err
		}
		if step, ok := matchTOTP(string(secret), code, now, u.LastStep); ok {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_last_step = ?, totp_failures = 0, totp_failures_since = NULL WHERE id = ?`, step, u.ID); err != nil {
				return err
			}
			user = &u.User
		} else {
			res, err := tx.ExecContext(ctx, `UPDATE totp_recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL`,
				now, u.ID, recoveryCodeHash(code))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				s.log.Warn("signed in with a recovery code", "user", u.Name)
				user = &u.User
			}
		}
		if user != nil {
			_, err := tx.ExecContext(ctx, `DELETE FROM login_challenges WHERE token_hash = ?`, tokenHash(token))
			return err
		}
		// Wrong: count it against the account and the challenge.
		if !inWindow {
			_, err = tx.ExecContext(ctx, `UPDATE users SET totp_failures = 1, totp_failures_since = ? WHERE id = ?`, now, u.ID)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE users SET totp_failures = totp_failures + 1 WHERE id = ?`, u.ID)
		}
		if err != nil {
			return err
		}
		s.log.Warn("wrong second-factor code", "user", u.Name)
		if c.Attempts+1 >= challengeAttempts {
			_, err := tx.ExecContext(ctx, `DELETE FROM login_challenges WHERE token_hash = ?`, tokenHash(token))
			refusal = &Error{Code: CodeUnauthorized, Message: "Too many wrong codes; enter your user name and password again."}
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE login_challenges SET attempts = attempts + 1 WHERE token_hash = ?`, tokenHash(token))
		refusal = &Error{Code: CodeInvalid, Message: "That code is wrong; enter the 6-digit code your app shows now, or one of your recovery codes."}
		return err
	})
	if err != nil {
		return nil, internal("Could not check the code", err)
	}
	if refusal != nil {
		return nil, refusal
	}
	return user, nil
}
