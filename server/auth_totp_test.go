package server_test

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// enrolTOTP turns TOTP on for u with a code the otp library computes from
// the secret, as an authenticator app would, and returns the secret and the
// recovery codes.
func enrolTOTP(t *testing.T, s *server.Service, u *server.User, now time.Time) (string, []string) {
	t.Helper()
	a := servertest.ActorFor(u, "web")
	e, err := s.BeginTOTPEnrolment(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(e.Secret, now)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := s.ConfirmTOTP(t.Context(), a, code)
	if err != nil {
		t.Fatal(err)
	}
	return e.Secret, codes
}

func TestTOTPEnrolment(t *testing.T) {
	clock := servertest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	s := servertest.MustOpenService(t, server.Options{Now: clock.Now})
	ctx := t.Context()
	u := quickUser(t, s, "alice", server.RoleOperator)
	a := servertest.ActorFor(u, "web")
	e, err := s.BeginTOTPEnrolment(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(e.QRPNG)); err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("QR code is not a PNG: %v", err)
	}
	if !strings.HasPrefix(e.URL, "otpauth://totp/restic-manager:alice?") || !strings.Contains(e.URL, "secret="+e.Secret) {
		t.Errorf("otpauth URL %q", e.URL)
	}
	// Not on until confirmed; the pending secret is sealed at rest.
	if acc, _ := s.Account(ctx, u.ID); acc.TOTP {
		t.Fatal("TOTP on before confirmation")
	}
	var pending []byte
	_ = s.DB().Get(&pending, `SELECT totp_pending FROM users WHERE id = ?`, u.ID)
	if bytes.Contains(pending, []byte(e.Secret)) || !bytes.HasPrefix(pending, []byte(server.SealedPrefix)) {
		t.Fatal("the pending secret is stored in clear")
	}
	if _, err := s.ConfirmTOTP(ctx, a, "000000"); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Fatalf("wrong confirmation code: %v", err)
	}
	code, _ := totp.GenerateCode(e.Secret, clock.Now())
	codes, err := s.ConfirmTOTP(ctx, a, code)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	var stored []byte
	_ = s.DB().Get(&stored, `SELECT totp_secret FROM users WHERE id = ?`, u.ID)
	if bytes.Contains(stored, []byte(e.Secret)) {
		t.Fatal("the TOTP secret is stored in clear")
	}
	var hashes []string
	_ = s.DB().Select(&hashes, `SELECT hex(code_hash) FROM totp_recovery_codes WHERE user_id = ?`, u.ID)
	for _, c := range codes {
		for _, h := range hashes {
			if strings.Contains(strings.ToLower(h), strings.ReplaceAll(c, "-", "")) {
				t.Fatal("a recovery code is stored in clear")
			}
		}
	}
	if acc, _ := s.Account(ctx, u.ID); !acc.TOTP {
		t.Fatal("TOTP not on after confirmation")
	}
	if _, err := s.BeginTOTPEnrolment(ctx, a); server.ErrorCodeOf(err) != server.CodeConflict {
		t.Errorf("enrolling again while on: %v", err)
	}
	rows, _ := s.ListAudit(ctx, server.AuditFilter{Action: "user.totp_enable"})
	if len(rows) != 1 || rows[0].Details != "{}" {
		t.Errorf("audit %+v", rows)
	}
}

// TestSecondFactorSignIn: after the password a challenge, not a session;
// the right code (computed from the secret) completes it once; a code is
// not accepted twice; a recovery code works once; wrong codes are refused
// and counted, five end the challenge, ten lock the account's second step.
func TestSecondFactorSignIn(t *testing.T) {
	clock := servertest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	s := servertest.MustOpenService(t, server.Options{Now: clock.Now})
	ctx := t.Context()
	u := quickUser(t, s, "alice", server.RoleAdmin)
	plain := quickUser(t, s, "bob", server.RoleViewer)
	secret, recovery := enrolTOTP(t, s, u, clock.Now())

	if tok, err := s.BeginSecondFactor(ctx, plain, "10.0.0.1"); err != nil || tok != "" {
		t.Fatalf("a user without TOTP got a challenge: %q, %v", tok, err)
	}
	begin := func() string {
		t.Helper()
		tok, err := s.BeginSecondFactor(ctx, u, "10.0.0.1")
		if err != nil || !strings.HasPrefix(tok, server.ChallengePrefix) {
			t.Fatalf("challenge %q, %v", tok, err)
		}
		return tok
	}

	refuse := func(tok, code string) error {
		_, err := s.CompleteSecondFactor(ctx, tok, code)
		return err
	}

	clock.Advance(time.Minute) // a new step: the enrolment's code is spent
	tok := begin()
	if name, err := s.ChallengeUser(ctx, tok); err != nil || name != "alice" {
		t.Fatalf("challenge user %q, %v", name, err)
	}
	if _, err := s.CompleteSecondFactor(ctx, tok, "123456x"); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Fatalf("garbage code: %v", err)
	}
	code, _ := totp.GenerateCode(secret, clock.Now())
	got, err := s.CompleteSecondFactor(ctx, tok, code)
	if err != nil || got.ID != u.ID || got.Role != server.RoleAdmin {
		t.Fatalf("right code: %+v, %v", got, err)
	}
	if _, err := s.CompleteSecondFactor(ctx, tok, code); server.ErrorCodeOf(err) != server.CodeUnauthorized {
		t.Fatalf("a used challenge: %v", err)
	}
	// The same code again, through a new challenge: refused (replay).
	if _, err := s.CompleteSecondFactor(ctx, begin(), code); err == nil {
		t.Fatal("a code was accepted twice")
	}

	// A recovery code works once, typed in any case with or without dashes.
	tok = begin()
	if _, err := s.CompleteSecondFactor(ctx, tok, strings.ToUpper(strings.ReplaceAll(recovery[3], "-", ""))); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	if _, err := s.CompleteSecondFactor(ctx, begin(), recovery[3]); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Fatalf("a recovery code worked twice: %v", err)
	}

	// A challenge expires.
	tok = begin()
	clock.Advance(server.SignInChallengeTTL + time.Second)
	code, _ = totp.GenerateCode(secret, clock.Now())
	if _, err := s.CompleteSecondFactor(ctx, tok, code); server.ErrorCodeOf(err) != server.CodeUnauthorized {
		t.Fatalf("expired challenge: %v", err)
	}

	// Five wrong codes end a challenge.
	clock.Advance(time.Hour)
	tok = begin()
	for i := range 5 {
		err := refuse(tok, "000000")
		want := server.CodeInvalid
		if i == 4 {
			want = server.CodeUnauthorized
		}
		if server.ErrorCodeOf(err) != want {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	code, _ = totp.GenerateCode(secret, clock.Now())
	if _, err := s.CompleteSecondFactor(ctx, tok, code); server.ErrorCodeOf(err) != server.CodeUnauthorized {
		t.Fatalf("a challenge ended by wrong codes still works: %v", err)
	}
	// Ten wrong codes across challenges lock the second step for a while,
	// even for the right code.
	for range 5 {
		_ = refuse(begin(), "000000")
	}
	err = refuse(begin(), code)
	if server.ErrorCodeOf(err) != server.CodeRateLimited || !strings.Contains(server.PublicMessage(err), "wait") {
		t.Fatalf("after ten wrong codes: %v", err)
	}
	clock.Advance(server.TOTPFailWindow)
	code, _ = totp.GenerateCode(secret, clock.Now())
	if _, err := s.CompleteSecondFactor(ctx, begin(), code); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestTOTPDisableAndReset(t *testing.T) {
	clock := servertest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	s := servertest.MustOpenService(t, server.Options{Now: clock.Now})
	ctx := t.Context()
	admin := quickUser(t, s, "root", server.RoleAdmin)
	u := quickUser(t, s, "alice", server.RoleViewer)
	enrolTOTP(t, s, u, clock.Now())
	if err := s.DisableTOTP(ctx, servertest.ActorFor(u, "web"), "wrong password"); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("disable with a wrong password: %v", err)
	}
	if err := s.DisableTOTP(ctx, servertest.ActorFor(u, "web"), servertest.Password); err != nil {
		t.Fatal(err)
	}
	if tok, _ := s.BeginSecondFactor(ctx, u, "x"); tok != "" {
		t.Fatal("a challenge after TOTP was turned off")
	}
	if n := countRows(t, s, "totp_recovery_codes"); n != 0 {
		t.Errorf("%d recovery codes left", n)
	}

	enrolTOTP(t, s, u, clock.Now())
	if _, err := s.ResetTOTP(ctx, servertest.ActorFor(u, "web"), u.ID); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("a viewer reset TOTP: %v", err)
	}
	if _, err := s.ResetTOTP(ctx, servertest.ActorFor(admin, "web"), u.ID); err != nil {
		t.Fatal(err)
	}
	if acc, _ := s.Account(ctx, u.ID); acc.TOTP {
		t.Fatal("TOTP still on after the reset")
	}
	for _, action := range []string{"user.totp_disable", "user.totp_reset"} {
		rows, _ := s.ListAudit(ctx, server.AuditFilter{Action: action})
		if len(rows) != 1 || rows[0].Target != "alice" {
			t.Errorf("%s audit %+v", action, rows)
		}
	}
}

// TestRequireTOTPForAdmins: while on, an admin session without TOTP is
// marked to enrol first; others are not, and an admin with TOTP is not.
func TestRequireTOTPForAdmins(t *testing.T) {
	clock := servertest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	s := servertest.MustOpenService(t, server.Options{Now: clock.Now})
	ctx := t.Context()
	admin := quickUser(t, s, "root", server.RoleAdmin)
	op := quickUser(t, s, "op", server.RoleOperator)
	adminTok, _, _ := s.CreateSession(ctx, admin, "x", "x")
	opTok, _, _ := s.CreateSession(ctx, op, "x", "x")
	must := func(tok string) bool {
		t.Helper()
		sess, _, err := s.LookupSession(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		return sess.MustEnrolTOTP
	}
	if must(adminTok) {
		t.Fatal("enrol demanded while the rule is off")
	}
	if err := s.SetRequireTOTPForAdmins(ctx, servertest.ActorFor(op, "web"), true); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("operator changed the setting: %v", err)
	}
	if err := s.SetRequireTOTPForAdmins(ctx, servertest.ActorFor(admin, "web"), true); err != nil {
		t.Fatal(err)
	}
	if on, _ := s.RequireTOTPForAdmins(ctx); !on {
		t.Fatal("setting not on")
	}
	if !must(adminTok) || must(opTok) {
		t.Fatalf("admin must enrol: %v, operator: %v", must(adminTok), must(opTok))
	}
	enrolTOTP(t, s, admin, clock.Now())
	if must(adminTok) {
		t.Fatal("an admin with TOTP is still sent to enrol")
	}
	rows, _ := s.ListAudit(ctx, server.AuditFilter{Action: "settings.require_totp"})
	if len(rows) != 1 || rows[0].Details != `{"on":true}` {
		t.Errorf("audit %+v", rows)
	}
}
