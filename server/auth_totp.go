package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP (RFC 6238) is the second factor a user may turn on: 6 digits, 30-second
// steps, SHA-1 — what every authenticator app supports. The secret is sealed
// with the master key and bound to its user; a code is accepted for the
// current step or one step either side (clock drift), and never for a step
// at or before the last one accepted, so a code seen over a shoulder cannot
// be replayed.

const (
	totpIssuer          = "restic-manager"
	totpPeriod          = 30
	recoveryCodeCount   = 10
	totpQRSize          = 240 // pixels, square
	requireTOTPKey      = "auth.require_totp_admins"
	totpSecretAADPrefix = "users.totp:"
	totpPendingAADPrfx  = "users.totp_pending:"
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// TOTPEnrolment is what a user needs to add the secret to an authenticator
// app: a QR code (PNG) and the same secret as text and as an otpauth URL.
// It is shown to its user once, while enrolling, and never stored in clear.
type TOTPEnrolment struct {
	Secret string // base32
	URL    string // otpauth://totp/...
	QRPNG  []byte
}

// BeginTOTPEnrolment makes a new secret for the actor's own account and keeps
// it (sealed) as pending until ConfirmTOTP proves the app has it. Starting
// again replaces a pending secret; an account with TOTP on must turn it off
// first.
func (s *Service) BeginTOTPEnrolment(ctx context.Context, a Actor) (*TOTPEnrolment, error) {
	acc, err := s.ownAccount(ctx, a)
	if err != nil {
		return nil, err
	}
	if acc.TOTP {
		return nil, conflictf("Two-factor sign-in is already on; turn it off first to enrol a new app.")
	}
	secret := make([]byte, 20)
	if _, err := rand.Read(secret); err != nil {
		panic(fmt.Sprintf("server: crypto/rand failed: %v", err))
	}
	e, err := newTOTPEnrolment(acc.Name, secret)
	if err != nil {
		return nil, err
	}
	sealed := s.box.Seal([]byte(e.Secret), totpPendingAADPrfx+strconv.FormatInt(acc.ID, 10))
	if _, err := s.db.ExecContext(ctx, `UPDATE users SET totp_pending = ? WHERE id = ?`, sealed, acc.ID); err != nil {
		return nil, internal("Could not keep the TOTP secret", err)
	}
	return e, nil
}

// PendingTOTPEnrolment shows an enrolment begun but not confirmed yet (the
// same secret and QR code again, e.g. after a mistyped code), or nil.
func (s *Service) PendingTOTPEnrolment(ctx context.Context, a Actor) (*TOTPEnrolment, error) {
	acc, err := s.ownAccount(ctx, a)
	if err != nil {
		return nil, err
	}
	secret, err := s.pendingTOTPSecret(ctx, acc.ID)
	if err != nil || secret == "" {
		return nil, err
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return nil, internal("Could not read the TOTP secret", err)
	}
	return newTOTPEnrolment(acc.Name, raw)
}

func (s *Service) pendingTOTPSecret(ctx context.Context, userID int64) (string, error) {
	var pending []byte
	if err := s.db.GetContext(ctx, &pending, `SELECT COALESCE(totp_pending, `+s.db.dialect.emptyBlob()+`) FROM users WHERE id = ?`, userID); err != nil {
		return "", internal("Could not load the TOTP secret", err)
	}
	if len(pending) == 0 {
		return "", nil
	}
	secret, err := s.box.Open(pending, totpPendingAADPrfx+strconv.FormatInt(userID, 10))
	if err != nil {
		return "", internal("Could not open the TOTP secret", err)
	}
	return string(secret), nil
}

// newTOTPEnrolment draws the QR code for secret.
func newTOTPEnrolment(account string, secret []byte) (*TOTPEnrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: account, Period: totpPeriod,
		Secret: secret, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, internal("Could not make a TOTP secret", err)
	}
	img, err := key.Image(totpQRSize, totpQRSize)
	if err != nil {
		return nil, internal("Could not draw the QR code", err)
	}
	// A white margin (the QR "quiet zone") so that dark pages do not touch
	// the code and confuse cameras.
	const margin = 16
	framed := image.NewGray(image.Rect(0, 0, totpQRSize+2*margin, totpQRSize+2*margin))
	draw.Draw(framed, framed.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(framed, img.Bounds().Add(image.Pt(margin, margin)), img, img.Bounds().Min, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, framed); err != nil {
		return nil, internal("Could not draw the QR code", err)
	}
	return &TOTPEnrolment{Secret: key.Secret(), URL: key.URL(), QRPNG: buf.Bytes()}, nil
}

// ConfirmTOTP turns two-factor sign-in on once code matches the pending
// secret, and returns the recovery codes: shown once, stored as hashes.
func (s *Service) ConfirmTOTP(ctx context.Context, a Actor, code string) ([]string, error) {
	acc, err := s.ownAccount(ctx, a)
	if err != nil {
		return nil, err
	}
	secret, err := s.pendingTOTPSecret(ctx, acc.ID)
	if err != nil {
		return nil, err
	}
	if secret == "" {
		return nil, conflictf("Start enrolling first: press 'Set up two-factor sign-in' and scan the new QR code.")
	}
	step, ok := matchTOTP(secret, code, s.now(), 0)
	if !ok {
		return nil, invalidf("That code does not match; check the app's clock and enter the code it shows now.")
	}
	codes := newRecoveryCodes()
	_, err = s.changeAccount(ctx, a, acc.ID, "user.totp_enable", nil, func(tx *sqlx.Tx, _ *Account) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = ?, totp_pending = NULL, totp_enabled_at = ?, totp_last_step = ?,
			totp_failures = 0 WHERE id = ?`, s.box.Seal([]byte(secret), totpSecretAADPrefix+strconv.FormatInt(acc.ID, 10)), s.now(), step, acc.ID); err != nil {
			return err
		}
		return replaceRecoveryCodes(ctx, tx, acc.ID, codes)
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// DisableTOTP turns the actor's own second factor off after proving the
// current password.
func (s *Service) DisableTOTP(ctx context.Context, a Actor, password string) error {
	acc, err := s.ownAccount(ctx, a)
	if err != nil {
		return err
	}
	u, err := s.userByID(ctx, acc.ID)
	if err != nil {
		return internal("Could not load your account", err)
	}
	if err := s.reauthenticate(a, u, password, "The password is wrong; type your current password to turn two-factor sign-in off."); err != nil {
		return err
	}
	_, err = s.changeAccount(ctx, a, acc.ID, "user.totp_disable", nil, func(tx *sqlx.Tx, _ *Account) error {
		return clearTOTP(ctx, tx, acc.ID)
	})
	return err
}

// ResetTOTP turns a user's second factor off for them (they lost their
// phone and their recovery codes). Only admins may; it is audited.
func (s *Service) ResetTOTP(ctx context.Context, a Actor, id int64) (*Account, error) {
	return s.changeUser(ctx, a, id, "user.totp_reset", nil, func(tx *sqlx.Tx, u *Account) error {
		return clearTOTP(ctx, tx, u.ID)
	})
}

// RequireTOTPForAdmins reports whether admins must use a second factor.
func (s *Service) RequireTOTPForAdmins(ctx context.Context) (bool, error) {
	v, ok, err := s.getSetting(ctx, requireTOTPKey)
	if err != nil {
		return false, internal("Could not read the settings", err)
	}
	return ok && string(v) == "1", nil
}

// SetRequireTOTPForAdmins turns the rule on or off. While it is on, an admin
// without TOTP is sent to enrol before anything else (Session.MustEnrolTOTP).
// API tokens are unaffected.
func (s *Service) SetRequireTOTPForAdmins(ctx context.Context, a Actor, on bool) error {
	if err := a.require(PermAdmin); err != nil {
		return err
	}
	v := "0"
	if on {
		v = "1"
	}
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := writeSetting(ctx, tx, requireTOTPKey, []byte(v), false); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "settings.require_totp", "admins", map[string]any{"on": on})
	})
	if err != nil {
		return internal("Could not save the setting", err)
	}
	return nil
}

// ownAccount is the actor's own account; the CLI and the system have none.
func (s *Service) ownAccount(ctx context.Context, a Actor) (*Account, error) {
	if a.UserID == 0 {
		return nil, invalidf("Only a signed-in user can change their own two-factor sign-in.")
	}
	acc, err := s.Account(ctx, a.UserID)
	if ErrorCodeOf(err) == CodeNotFound || (err == nil && acc.Disabled) {
		return nil, &Error{Code: CodeUnauthorized, Message: "Your session has ended; sign in again."}
	}
	return acc, err
}

func clearTOTP(ctx context.Context, tx *sqlx.Tx, userID int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_enabled_at = NULL,
		totp_last_step = 0, totp_failures = 0, totp_failures_since = NULL WHERE id = ?`, userID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM totp_recovery_codes WHERE user_id = ?`, userID)
	return err
}

// matchTOTP checks code against secret for the step of now and one either
// side, never at or before lastStep. It returns the step that matched.
func matchTOTP(secret, code string, now time.Time, lastStep int64) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	for _, step := range []int64{cur - 1, cur, cur + 1} {
		if step <= lastStep {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// newRecoveryCodes makes codes of 80 random bits each, as xxxx-xxxx-xxxx-xxxx.
// That much entropy makes a fast hash enough to store them, like tokens.
func newRecoveryCodes() []string {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	out := make([]string, recoveryCodeCount)
	for i := range out {
		b := make([]byte, 10)
		if _, err := rand.Read(b); err != nil {
			panic(fmt.Sprintf("server: crypto/rand failed: %v", err))
		}
		c := strings.ToLower(enc.EncodeToString(b))
		out[i] = c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
	}
	return out
}

// recoveryCodeHash normalises a typed code (case, dashes, spaces) and hashes it.
func recoveryCodeHash(code string) []byte {
	c := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
	return tokenHash("recovery:" + c)
}

func replaceRecoveryCodes(ctx context.Context, tx *sqlx.Tx, userID int64, codes []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM totp_recovery_codes WHERE user_id = ?`, userID); err != nil {
		return err
	}
	for _, c := range codes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO totp_recovery_codes (user_id, code_hash) VALUES (?, ?)`, userID, recoveryCodeHash(c)); err != nil {
			return err
		}
	}
	return nil
}
