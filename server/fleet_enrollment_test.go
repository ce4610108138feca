package server_test

import (
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

func countRows(t *testing.T, s *server.Service, table string) int {
	t.Helper()
	var n int
	if err := s.DB().Get(&n, `SELECT COUNT(*) FROM `+table); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEnrollmentTokenRules(t *testing.T) {
	clock := servertest.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	s := servertest.MustOpenService(t, server.Options{Now: clock.Now})
	ctx := t.Context()
	req := func(tok string) server.EnrollRequest {
		return server.EnrollRequest{Token: tok, Hostname: "box", OS: "linux", Arch: "arm64", AgentVersion: "1.0"}
	}

	tok, rec, err := s.CreateEnrollmentToken(ctx, server.CLIActor(), "box-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.ExpiresAt.Sub(rec.CreatedAt); got != server.DefaultTokenTTL {
		t.Fatalf("default TTL %s", got)
	}
	res, err := s.Enroll(ctx, req(tok))
	if err != nil {
		t.Fatal(err)
	}
	if res.HostName != "box-1" || res.MQTTPassword == "" {
		t.Fatalf("result %+v", res)
	}
	if kind, err := s.AuthenticateMQTT(ctx, res.HostID, []byte(res.MQTTPassword)); err != nil || kind != server.MQTTHost {
		t.Fatalf("new host cannot authenticate: %v", err)
	}
	if _, err := s.AuthenticateMQTT(ctx, res.HostID, []byte("wrong")); err == nil {
		t.Fatal("wrong MQTT password accepted")
	}

	// Reuse: refused, nothing created.
	hosts := countRows(t, s, "hosts")
	if _, err := s.Enroll(ctx, req(tok)); server.ErrorCodeOf(err) != server.CodeConflict {
		t.Fatalf("reuse: %v", err)
	}
	// Unknown token.
	if _, err := s.Enroll(ctx, req("rme_nope")); server.ErrorCodeOf(err) != server.CodeUnauthorized {
		t.Fatalf("unknown: %v", err)
	}
	// Expiry.
	tok2, _, err := s.CreateEnrollmentToken(ctx, server.CLIActor(), "box-2", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Minute)
	if _, err := s.Enroll(ctx, req(tok2)); server.ErrorCodeOf(err) != server.CodeUnauthorized {
		t.Fatalf("expired: %v", err)
	}
	// Revoked.
	tok3, rec3, _ := s.CreateEnrollmentToken(ctx, server.CLIActor(), "box-3", 0)
	if err := s.RevokeEnrollmentToken(ctx, server.CLIActor(), rec3.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enroll(ctx, req(tok3)); server.ErrorCodeOf(err) != server.CodeUnauthorized {
		t.Fatalf("revoked: %v", err)
	}
	if got := countRows(t, s, "hosts"); got != hosts {
		t.Fatalf("failed enrollments created hosts: %d -> %d", hosts, got)
	}
	// Name collision and bad input.
	if _, _, err := s.CreateEnrollmentToken(ctx, server.CLIActor(), "box-1", 0); server.ErrorCodeOf(err) != server.CodeConflict {
		t.Fatalf("duplicate name: %v", err)
	}
	for _, name := range []string{"", "-x", "a b", "x/y", "a\nb"} {
		if _, _, err := s.CreateEnrollmentToken(ctx, server.CLIActor(), name, 0); server.ErrorCodeOf(err) != server.CodeInvalid {
			t.Errorf("name %q: %v", name, err)
		}
	}
	if _, _, err := s.CreateEnrollmentToken(ctx, server.CLIActor(), "ok", 30*24*time.Hour); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Fatalf("30 day ttl: %v", err)
	}
	// Agent-sent garbage is refused before the token is consumed.
	tok4, _, _ := s.CreateEnrollmentToken(ctx, server.CLIActor(), "box-4", 0)
	bad := req(tok4)
	bad.Hostname = "evil\x1b[31m"
	if _, err := s.Enroll(ctx, bad); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Fatalf("control chars: %v", err)
	}
	if _, err := s.Enroll(ctx, req(tok4)); err != nil {
		t.Fatalf("token consumed by a refused request: %v", err)
	}
	// Only unused, unexpired tokens are listed.
	list, err := s.ListEnrollmentTokens(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("list = %+v, %v", list, err)
	}
}
