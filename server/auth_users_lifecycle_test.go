package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// testPasswordHash is servertest.Password hashed once, at the fixtures' cheap
// cost (servertest.CheapPasswordHash): argon2id's real cost takes seconds per
// check under the race detector, and these tests make many users and sign
// them in.
var testPasswordHash = sync.OnceValue(func() string {
	h, err := server.HashPasswordCost(servertest.Password, servertest.CheapPasswordHash())
	if err != nil {
		panic(err)
	}
	return h
})

// quickUser is servertest.MustCreateUser without hashing again (and without an audit row).
func quickUser(t *testing.T, s *server.Service, name string, role server.Role) *server.User {
	t.Helper()
	u := &server.User{Name: name, Role: role, PasswordHash: testPasswordHash(), CreatedAt: s.Now()}
	tx := s.DB().MustBegin()
	if err := tx.Get(&u.ID, `INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
		name, role, u.PasswordHash, u.CreatedAt); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return u
}

// lifecycleFixture is a store with two admins, an operator and a viewer,
// each signed in once, and an API token for the operator.
type lifecycleFixture struct {
	s                      *server.Service
	root, second, op, view *server.User
	sessions               map[string]string // user name -> session token
	opToken                string
}

func newLifecycleFixture(t *testing.T) *lifecycleFixture {
	t.Helper()
	s := servertest.MustOpenService(t, server.Options{})
	f := &lifecycleFixture{s: s, sessions: map[string]string{}}
	f.root = quickUser(t, s, "root", server.RoleAdmin)
	f.second = quickUser(t, s, "second", server.RoleAdmin)
	f.op = quickUser(t, s, "op", server.RoleOperator)
	f.view = quickUser(t, s, "view", server.RoleViewer)
	for _, u := range []*server.User{f.root, f.second, f.op, f.view} {
		tok, _, err := s.CreateSession(t.Context(), u, "127.0.0.1", "test")
		if err != nil {
			t.Fatal(err)
		}
		f.sessions[u.Name] = tok
	}
	var err error
	if f.opToken, err = s.CreateAPIToken(t.Context(), server.CLIActor(), "op", "deploy"); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *lifecycleFixture) sessionAlive(t *testing.T, name string) bool {
	t.Helper()
	_, _, err := f.s.LookupSession(t.Context(), f.sessions[name])
	if err != nil && server.ErrorCodeOf(err) != server.CodeUnauthorized {
		t.Fatal(err)
	}
	return err == nil
}

// TestUserLifecycleActions drives each admin action and checks what it
// changes, its audit row (never a password), and whose sessions it ends.
func TestUserLifecycleActions(t *testing.T) {
	const newPassword = "a brand new long password"
	cases := []struct {
		name    string
		act     func(ctx context.Context, f *lifecycleFixture, a server.Actor) error
		action  string
		target  string
		ended   []string // sessions that must end
		check   func(t *testing.T, f *lifecycleFixture)
		details string
	}{
		{name: "disable", action: "user.disable", target: "op", ended: []string{"op"},
			act: func(ctx context.Context, f *lifecycleFixture, a server.Actor) error {
				_, err := f.s.DisableUser(ctx, a, f.op.ID)
				return err
			},
			check: func(t *testing.T, f *lifecycleFixture) {
				if _, err := f.s.Login(t.Context(), "op", servertest.Password, "10.1.0.1"); err == nil {
					t.Error("a disabled user signed in")
				}
				if _, err := f.s.LookupAPIToken(t.Context(), f.opToken); server.ErrorCodeOf(err) != server.CodeUnauthorized {
					t.Errorf("a disabled user's API token: %v", err)
				}
				if acc, _ := f.s.AccountByName(t.Context(), "op"); acc == nil || !acc.Disabled {
					t.Errorf("account after disable: %+v", acc)
				}
			}},
		// Enabling does not bring back the sessions disabling ended.
		{name: "enable", action: "user.enable", target: "op", ended: []string{"op"},
			act: func(ctx context.Context, f *lifecycleFixture, a server.Actor) error {
				if _, err := f.s.DisableUser(ctx, a, f.op.ID); err != nil {
					return err
				}
				_, err := f.s.EnableUser(ctx, a, f.op.ID)
				return err
			},
			check: func(t *testing.T, f *lifecycleFixture) {
				if _, err := f.s.Login(t.Context(), "op", servertest.Password, "10.1.0.2"); err != nil {
					t.Errorf("an enabled user cannot sign in: %v", err)
				}
				if _, err := f.s.LookupAPIToken(t.Context(), f.opToken); err != nil {
					t.Errorf("an enabled user's API token: %v", err)
				}
			}},
		{name: "delete", action: "user.delete", target: "op", ended: []string{"op"},
			act: func(ctx context.Context, f *lifecycleFixture, a server.Actor) error {
				_, err := f.s.DeleteUser(ctx, a, f.op.ID)
				return err
			},
			check: func(t *testing.T, f *lifecycleFixture) {
				if _, err := f.s.AccountByName(t.Context(), "op"); server.ErrorCodeOf(err) != server.CodeNotFound {
					t.Errorf("deleted user still there: %v", err)
				}
				var tokens int
				_ = f.s.DB().Get(&tokens, `SELECT COUNT(*) FROM api_tokens`)
				if tokens != 0 {
					t.Errorf("%d API tokens outlived their user", tokens)
				}
				// Audit rows about and by the user stay.
				if rows, _ := f.s.ListAudit(t.Context(), server.AuditFilter{Action: "apitoken.create"}); len(rows) != 1 || rows[0].Target != "op" {
					t.Errorf("audit rows naming the deleted user: %+v", rows)
				}
				// The name is free again.
				quickUser(t, f.s, "op", server.RoleViewer)
			}},
		{name: "demote", action: "user.role", target: "second", details: `{"role":"viewer"}`,
			act: func(ctx context.Context, f *lifecycleFixture, a server.Actor) error {
				_, err := f.s.SetUserRole(ctx, a, f.second.ID, server.RoleViewer)
				return err
			},
			check: func(t *testing.T, f *lifecycleFixture) {
				_, u, err := f.s.LookupSession(t.Context(), f.sessions["second"])
				if err != nil || u.Role != server.RoleViewer {
					t.Errorf("the demoted user's next request: %+v, %v", u, err)
				}
			}},
		{name: "reset password", action: "user.password_reset", target: "view", ended: []string{"view"},
			act: func(ctx context.Context, f *lifecycleFixture, a server.Actor) error {
				_, err := f.s.ResetPassword(ctx, a, f.view.ID, newPassword)
				return err
			},
			check: func(t *testing.T, f *lifecycleFixture) {
				if _, err := f.s.Login(t.Context(), "view", newPassword, "10.1.0.3"); err != nil {
					t.Errorf("new password refused: %v", err)
				}
				if _, err := f.s.Login(t.Context(), "view", servertest.Password, "10.1.0.4"); err == nil {
					t.Error("old password still works")
				}
			}},
	}
	for _, tc := range cases {
		for _, via := range []string{"web", "cli"} {
			t.Run(tc.name+" via "+via, func(t *testing.T) {
				f := newLifecycleFixture(t)
				a := servertest.ActorFor(f.root, "web")
				if via == "cli" {
					a = server.CLIActor()
				}
				// Forbidden to anyone but an admin, and nothing changes.
				for _, u := range []*server.User{f.op, f.view} {
					if err := tc.act(t.Context(), f, servertest.ActorFor(u, "web")); server.ErrorCodeOf(err) != server.CodeForbidden {
						t.Fatalf("%s did it: %v", u.Role, err)
					}
				}
				if err := tc.act(t.Context(), f, a); err != nil {
					t.Fatal(err)
				}
				rows, err := f.s.ListAudit(t.Context(), server.AuditFilter{Action: tc.action})
				if err != nil || len(rows) != 1 {
					t.Fatalf("audit rows for %s: %+v, %v", tc.action, rows, err)
				}
				if rows[0].Target != tc.target || rows[0].Actor != a.Name || strings.Contains(rows[0].Details, "password\"") {
					t.Errorf("audit row %+v", rows[0])
				}
				if tc.details != "" && rows[0].Details != tc.details {
					t.Errorf("audit details %s, want %s", rows[0].Details, tc.details)
				}
				if strings.Contains(rows[0].Details, newPassword) || strings.Contains(rows[0].Details, servertest.Password) {
					t.Errorf("a password in the audit log: %s", rows[0].Details)
				}
				ended := map[string]bool{}
				for _, n := range tc.ended {
					ended[n] = true
				}
				for name := range f.sessions {
					if alive := f.sessionAlive(t, name); alive == ended[name] {
						t.Errorf("session of %s alive=%v after %s", name, alive, tc.name)
					}
				}
				tc.check(t, f)
			})
		}
	}
}

// TestLastAdminGuard: the last enabled admin cannot be disabled, deleted or
// demoted, by anyone (the CLI included); with two admins each action works
// once and then the other admin is protected.
func TestLastAdminGuard(t *testing.T) {
	actions := map[string]func(s *server.Service, a server.Actor, id int64) error{
		"disable": func(s *server.Service, a server.Actor, id int64) error {
			_, err := s.DisableUser(context.Background(), a, id)
			return err
		},
		"delete": func(s *server.Service, a server.Actor, id int64) error {
			_, err := s.DeleteUser(context.Background(), a, id)
			return err
		},
		"demote": func(s *server.Service, a server.Actor, id int64) error {
			_, err := s.SetUserRole(context.Background(), a, id, server.RoleOperator)
			return err
		},
	}
	for name, act := range actions {
		t.Run(name, func(t *testing.T) {
			s := servertest.MustOpenService(t, server.Options{})
			root := quickUser(t, s, "root", server.RoleAdmin)
			other := quickUser(t, s, "other", server.RoleAdmin)
			// An admin that is disabled does not count as the other admin.
			idle := quickUser(t, s, "idle", server.RoleAdmin)
			if _, err := s.DisableUser(t.Context(), server.CLIActor(), idle.ID); err != nil {
				t.Fatal(err)
			}
			if err := act(s, servertest.ActorFor(root, "web"), other.ID); err != nil {
				t.Fatalf("with two admins: %v", err)
			}
			for _, a := range []server.Actor{server.CLIActor(), servertest.ActorFor(root, "web")} {
				err := act(s, a, root.ID)
				if server.ErrorCodeOf(err) != server.CodeConflict {
					t.Fatalf("%s the last admin as %s: %v", name, a.Name, err)
				}
				if a.Name == "cli" && !strings.Contains(server.PublicMessage(err), "last enabled admin") {
					t.Errorf("refusal says %q", server.PublicMessage(err))
				}
			}
			acc, err := s.Account(t.Context(), root.ID)
			if err != nil || acc.Disabled || acc.Role != server.RoleAdmin {
				t.Fatalf("the last admin changed: %+v, %v", acc, err)
			}
		})
	}
}

func TestNobodyDisablesOrDeletesThemselves(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{})
	root := quickUser(t, s, "root", server.RoleAdmin)
	quickUser(t, s, "other", server.RoleAdmin)
	if _, err := s.DisableUser(t.Context(), servertest.ActorFor(root, "web"), root.ID); server.ErrorCodeOf(err) != server.CodeConflict {
		t.Errorf("self-disable: %v", err)
	}
	if _, err := s.DeleteUser(t.Context(), servertest.ActorFor(root, "web"), root.ID); server.ErrorCodeOf(err) != server.CodeConflict {
		t.Errorf("self-delete: %v", err)
	}
}

// TestChangeOwnPassword: the current password is required; the session
// making the change stays, every other session of the user ends, and other
// users' sessions are untouched.
func TestChangeOwnPassword(t *testing.T) {
	f := newLifecycleFixture(t)
	ctx := t.Context()
	other, _, err := f.s.CreateSession(ctx, f.view, "10.0.0.9", "phone")
	if err != nil {
		t.Fatal(err)
	}
	a := servertest.ActorFor(f.view, "web")
	if err := f.s.ChangeOwnPassword(ctx, a, "not my password", "a brand new long password", f.sessions["view"]); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("wrong current password: %v", err)
	}
	if err := f.s.ChangeOwnPassword(ctx, a, servertest.Password, "short", f.sessions["view"]); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Fatalf("short new password: %v", err)
	}
	if !f.sessionAlive(t, "view") {
		t.Fatal("a refused change ended the session")
	}
	if err := f.s.ChangeOwnPassword(ctx, a, servertest.Password, "a brand new long password", f.sessions["view"]); err != nil {
		t.Fatal(err)
	}
	if !f.sessionAlive(t, "view") {
		t.Error("the session that changed the password ended")
	}
	if _, _, err := f.s.LookupSession(ctx, other); server.ErrorCodeOf(err) != server.CodeUnauthorized {
		t.Errorf("the other session of the user survived: %v", err)
	}
	if !f.sessionAlive(t, "op") {
		t.Error("another user's session ended")
	}
	if _, err := f.s.Login(ctx, "view", "a brand new long password", "10.1.0.5"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if rows, _ := f.s.ListAudit(ctx, server.AuditFilter{Action: "user.password_change"}); len(rows) != 1 || rows[0].Actor != "view" || rows[0].Details != "{}" {
		t.Errorf("audit: %+v", rows)
	}
	if err := f.s.ChangeOwnPassword(ctx, server.CLIActor(), servertest.Password, "another long password", ""); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Errorf("CLI changing 'its own' password: %v", err)
	}
}

// TestUserChangesAreSignalled: every change publishes user.changed for the
// user and bumps the generation other processes watch.
func TestUserChangesAreSignalled(t *testing.T) {
	f := newLifecycleFixture(t)
	events, stop := f.s.Events().Subscribe()
	defer stop()
	gen0, err := f.s.UsersGeneration(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.SetUserRole(t.Context(), server.CLIActor(), f.op.ID, server.RoleViewer); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.Kind != server.EventUserChanged || ev.UserID != f.op.ID {
			t.Errorf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no user.changed event")
	}
	if gen, _ := f.s.UsersGeneration(t.Context()); gen != gen0+1 {
		t.Errorf("generation %d -> %d", gen0, gen)
	}
}

// TestAPITokenListRevokeAndLastUse: the list never carries the token; last
// use is written on use (at most once a minute); a revoked token stops.
func TestAPITokenListRevokeAndLastUse(t *testing.T) {
	clock := servertest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	s := servertest.MustOpenService(t, server.Options{Now: clock.Now})
	ctx := t.Context()
	admin := quickUser(t, s, "root", server.RoleAdmin)
	op := quickUser(t, s, "op", server.RoleOperator)
	tok, created, err := s.IssueAPIToken(ctx, server.CLIActor(), "op", "grafana")
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.ListAPITokens(ctx)
	if err != nil || len(list) != 1 || list[0].ID != created.ID || list[0].User != "op" || list[0].Label != "grafana" || list[0].LastUsedAt != nil {
		t.Fatalf("list %+v, %v", list, err)
	}
	clock.Advance(time.Hour)
	if _, err := s.LookupAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	list, _ = s.ListAPITokens(ctx)
	if list[0].LastUsedAt == nil || !list[0].LastUsedAt.Equal(clock.Now()) {
		t.Fatalf("last use %v, want %v", list[0].LastUsedAt, clock.Now())
	}
	first := *list[0].LastUsedAt
	clock.Advance(30 * time.Second)
	_, _ = s.LookupAPIToken(ctx, tok)
	if list, _ = s.ListAPITokens(ctx); !list[0].LastUsedAt.Equal(first) {
		t.Errorf("last use written again within a minute: %v", list[0].LastUsedAt)
	}
	clock.Advance(time.Minute)
	_, _ = s.LookupAPIToken(ctx, tok)
	if list, _ = s.ListAPITokens(ctx); !list[0].LastUsedAt.Equal(clock.Now()) {
		t.Errorf("last use after a minute: %v", list[0].LastUsedAt)
	}

	if err := s.RevokeAPIToken(ctx, servertest.ActorFor(op, "api"), created.ID); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("operator revoked a token: %v", err)
	}
	if err := s.RevokeAPIToken(ctx, servertest.ActorFor(admin, "web"), created.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupAPIToken(ctx, tok); server.ErrorCodeOf(err) != server.CodeUnauthorized {
		t.Fatalf("revoked token: %v", err)
	}
	if err := s.RevokeAPIToken(ctx, servertest.ActorFor(admin, "web"), created.ID); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("revoking twice: %v", err)
	}
	if list, _ = s.ListAPITokens(ctx); len(list) != 0 {
		t.Errorf("revoked token listed: %+v", list)
	}
	rows, _ := s.ListAudit(ctx, server.AuditFilter{Action: "apitoken.revoke"})
	if len(rows) != 1 || rows[0].Target != "op" || strings.Contains(rows[0].Details, tok) {
		t.Errorf("audit %+v", rows)
	}
}

// TestOwnPasswordGuessesAreThrottled: wrong current passwords count as
// failed sign-ins from that address; once they are used up even the right
// one is refused with how long to wait, while another address may still
// try. Nothing changes meanwhile.
func TestOwnPasswordGuessesAreThrottled(t *testing.T) {
	f := newLifecycleFixture(t)
	ctx := t.Context()
	a := servertest.ActorFor(f.view, "web")
	a.RemoteAddr = "203.0.113.5"
	for i := range server.LoginFailsPerPair {
		if err := f.s.ChangeOwnPassword(ctx, a, "guess", "a brand new long password", f.sessions["view"]); server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	err := f.s.ChangeOwnPassword(ctx, a, servertest.Password, "a brand new long password", f.sessions["view"])
	if server.ErrorCodeOf(err) != server.CodeRateLimited || !strings.Contains(server.PublicMessage(err), "wait") {
		t.Fatalf("after %d guesses: %v", server.LoginFailsPerPair, err)
	}
	if err := f.s.DisableTOTP(ctx, a, servertest.Password); server.ErrorCodeOf(err) != server.CodeRateLimited {
		t.Fatalf("turning TOTP off after the guesses: %v", err)
	}
	if _, err := f.s.Login(ctx, "view", servertest.Password, "203.0.113.6"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	a.RemoteAddr = "203.0.113.6"
	if err := f.s.ChangeOwnPassword(ctx, a, servertest.Password, "a brand new long password", f.sessions["view"]); err != nil {
		t.Fatalf("from another address: %v", err)
	}
}
