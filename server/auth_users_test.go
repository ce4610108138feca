package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

func TestLoginAndThrottle(t *testing.T) {
	clock := servertest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := servertest.MustOpenService(t, server.Options{Now: clock.Now})
	ctx := t.Context()
	servertest.MustCreateUser(t, s, "bob", server.RoleViewer)
	if _, err := s.Login(ctx, "bob", servertest.Password, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := s.Login(ctx, "bob", "nope", "10.0.0.1"); server.ErrorCodeOf(err) != server.CodeUnauthorized {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	// Even the right password is refused while throttled, from that address
	// only (#9: a lock for the whole world lets anyone lock a user out).
	if _, err := s.Login(ctx, "bob", servertest.Password, "10.0.0.1"); server.ErrorCodeOf(err) != server.CodeRateLimited {
		t.Fatalf("throttled login: %v", err)
	}
	if _, err := s.Login(ctx, "bob", servertest.Password, "10.0.0.2"); err != nil {
		t.Fatalf("login from another address while 10.0.0.1 is throttled: %v", err)
	}
	clock.Advance(16 * time.Minute)
	if _, err := s.Login(ctx, "bob", servertest.Password, "10.0.0.1"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// Unknown users fail the same way and count against the address.
	if _, err := s.Login(ctx, "ghost", "x", "10.0.0.9"); server.ErrorCodeOf(err) != server.CodeUnauthorized {
		t.Fatal(err)
	}
}

func TestRolesAndAudit(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{})
	ctx := t.Context()
	admin := servertest.MustCreateUser(t, s, "root", server.RoleAdmin)
	op := servertest.MustCreateUser(t, s, "op", server.RoleOperator)
	viewer := servertest.MustCreateUser(t, s, "view", server.RoleViewer)
	before := countRows(t, s, "audit_log")
	for _, u := range []*server.User{op, viewer} {
		a := servertest.ActorFor(u, "web")
		if _, err := s.CreateUser(ctx, a, "x"+u.Name, server.RoleAdmin, servertest.Password); server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Errorf("%s created a user: %v", u.Role, err)
		}
		if _, _, err := s.CreateEnrollmentToken(ctx, a, "h-"+u.Name, 0); server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Errorf("%s created a token: %v", u.Role, err)
		}
		if _, err := s.CreateAPIToken(ctx, a, u.Name, ""); server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Errorf("%s created an API token: %v", u.Role, err)
		}
		if _, err := s.CreateMonitorAccount(ctx, a, "m"+u.Name); server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Errorf("%s created a monitor: %v", u.Role, err)
		}
	}
	if got := countRows(t, s, "audit_log"); got != before {
		t.Fatalf("forbidden requests wrote %d audit rows", got-before)
	}
	if got := countRows(t, s, "enrollment_tokens") + countRows(t, s, "api_tokens") + countRows(t, s, "monitor_accounts"); got != 0 {
		t.Fatalf("forbidden requests created %d rows", got)
	}

	a := servertest.ActorFor(admin, "web")
	a.RemoteAddr = "192.0.2.7"
	if _, _, err := s.CreateEnrollmentToken(ctx, a, "db-1", 0); err != nil {
		t.Fatal(err)
	}
	tok, err := s.CreateAPIToken(ctx, a, "op", "deploy")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := s.ListAudit(ctx, server.AuditFilter{Actor: "root"})
	if err != nil || len(entries) != 2 {
		t.Fatalf("audit rows %+v, %v", entries, err)
	}
	e := entries[1]
	if e.Action != "enrollment_token.create" || e.Target != "db-1" || e.RemoteAddr != "192.0.2.7" || e.Via != "web" || e.Role != "admin" {
		t.Fatalf("audit row %+v", e)
	}
	for _, e := range entries {
		if strings.Contains(e.Details, tok) {
			t.Fatal("audit row holds a token")
		}
	}
	if got, _ := s.ListAudit(ctx, server.AuditFilter{Action: "apitoken"}); len(got) != 1 {
		t.Fatalf("action filter: %+v", got)
	}
	u, err := s.LookupAPIToken(ctx, tok)
	if err != nil || u.Name != "op" || u.Role != server.RoleOperator {
		t.Fatalf("token user %+v %v", u, err)
	}
}

func TestRoleMatrix(t *testing.T) {
	cases := []struct {
		role server.Role
		perm server.Perm
		want bool
	}{
		{server.RoleViewer, server.PermRead, true}, {server.RoleViewer, server.PermRunJobs, false}, {server.RoleViewer, server.PermConfigure, false}, {server.RoleViewer, server.PermAdmin, false},
		{server.RoleOperator, server.PermRead, true}, {server.RoleOperator, server.PermRunJobs, true}, {server.RoleOperator, server.PermConfigure, false}, {server.RoleOperator, server.PermAdmin, false},
		{server.RoleAdmin, server.PermRead, true}, {server.RoleAdmin, server.PermRunJobs, true}, {server.RoleAdmin, server.PermConfigure, true}, {server.RoleAdmin, server.PermAdmin, true},
		{server.Role("root"), server.PermRead, false}, {server.Role(""), server.PermRead, false},
	}
	for _, c := range cases {
		if got := c.role.Allows(c.perm); got != c.want {
			t.Errorf("%q.Allows(%d) = %v", c.role, c.perm, got)
		}
	}
}

func TestSessions(t *testing.T) {
	clock := servertest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := servertest.MustOpenService(t, server.Options{Now: clock.Now})
	ctx := t.Context()
	u := servertest.MustCreateUser(t, s, "carol", server.RoleOperator)
	tok, sess, err := s.CreateSession(ctx, u, "127.0.0.1", "ua")
	if err != nil || sess.CSRFToken == "" {
		t.Fatal(err)
	}
	if _, got, err := s.LookupSession(ctx, tok); err != nil || got.Name != "carol" {
		t.Fatalf("lookup: %v", err)
	}
	clock.Advance(server.SessionIdle + time.Minute)
	if _, _, err := s.LookupSession(ctx, tok); server.ErrorCodeOf(err) != server.CodeUnauthorized {
		t.Fatalf("idle session still valid: %v", err)
	}
	tok2, _, _ := s.CreateSession(ctx, u, "127.0.0.1", "ua")
	if err := s.DeleteSession(ctx, tok2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LookupSession(ctx, tok2); server.ErrorCodeOf(err) != server.CodeUnauthorized {
		t.Fatalf("deleted session still valid: %v", err)
	}
}

func TestEnsureAdmin(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{})
	pw, err := s.EnsureAdmin(t.Context(), "")
	if err != nil || len(pw) < server.MinPasswordLen {
		t.Fatalf("first start: %q %v", pw, err)
	}
	if _, err := s.Login(t.Context(), "admin", pw, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if pw2, err := s.EnsureAdmin(t.Context(), ""); err != nil || pw2 != "" {
		t.Fatalf("second start made another admin: %q %v", pw2, err)
	}
}
