package server_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// burstLogins fires n wrong sign-ins at once from addr, for name(i), with
// the real argon2id check, and counts the outcomes by error code.
func burstLogins(t *testing.T, svc *server.Service, n int, addr string, name func(int) string) map[server.ErrorCode]int {
	t.Helper()
	start := make(chan struct{})
	var mu sync.Mutex
	codes := map[server.ErrorCode]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, err := svc.Login(t.Context(), name(i), "wrong password "+fmt.Sprint(i), addr)
			if err == nil {
				t.Error("a wrong password signed in")
				return
			}
			if c := server.ErrorCodeOf(err); c == server.CodeRateLimited && server.RetryAfterOf(err) <= 0 {
				t.Errorf("refusal without a wait: %v", err)
			}
			mu.Lock()
			codes[server.ErrorCodeOf(err)]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return codes
}

// The attack run: 40 concurrent wrong sign-ins from one address all ran the
// 64 MiB hash and none was refused. Attempts are now counted before hashing,
// so all but the allowed few are refused at once, and no more than HashSlots
// hashes ever run together (the rest wait in a short queue or are told the
// server is busy; neither counts against the client).
func TestLoginBurstIsCountedBeforeHashing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		user    func(int) string
		allowed int // attempts that reach the password check
	}{
		{"one name", func(int) string { return "admin" }, 5},
		{"a name each", func(i int) string { return fmt.Sprintf("guess%d", i) }, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The real cost: the slots and the queue are what is tested.
			svc := servertest.MustOpenService(t, server.Options{PasswordHashCost: server.DefaultPasswordHashCost()})
			servertest.MustCreateUser(t, svc, "admin", server.RoleAdmin)
			server.ResetPasswordHashesPeak()
			codes := burstLogins(t, svc, 40, "203.0.113.7", tc.user)
			// A "busy, retry" costs the address nothing, so its attempt
			// goes back to the pool; only real checks (401) are spent.
			limited, checked, busy := codes[server.CodeRateLimited], codes[server.CodeUnauthorized], codes[server.CodeUnavailable]
			if limited+checked+busy != 40 || checked > tc.allowed || limited == 0 {
				t.Errorf("outcomes %v: want 429s, at most %d checked, the rest told the server is busy", codes, tc.allowed)
			}
			if peak := server.PasswordHashesPeak(); peak > int64(server.HashSlots) || peak < 1 {
				t.Errorf("%d password hashes ran at once, want 1..%d", peak, server.HashSlots)
			}
		})
	}
}

// Five wrong passwords for admin from one address used to lock the right
// password out from every address for 15 minutes. Now the lock holds for
// that address only, and its message says how long is left.
func TestLoginLockIsPerAddressAndSaysTheWait(t *testing.T) {
	clock := servertest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	svc := servertest.MustOpenService(t, server.Options{Now: clock.Now})
	servertest.MustCreateUser(t, svc, "admin", server.RoleAdmin)
	const a, b = "198.51.100.1", "198.51.100.2"
	for i := range 5 {
		if _, err := svc.Login(t.Context(), "admin", "wrong password!", a); server.ErrorCodeOf(err) != server.CodeUnauthorized {
			t.Fatalf("attempt %d: %v, want wrong password", i+1, err)
		}
	}
	_, err := svc.Login(t.Context(), "admin", servertest.Password, a)
	if server.ErrorCodeOf(err) != server.CodeRateLimited || server.RetryAfterOf(err) != 15*time.Minute ||
		!strings.Contains(server.PublicMessage(err), "wait 15 minutes") {
		t.Fatalf("sixth attempt from A: %v (retry after %v), want a refusal saying to wait 15 minutes", err, server.RetryAfterOf(err))
	}
	clock.Advance(6*time.Minute + 30*time.Second)
	_, err = svc.Login(t.Context(), "admin", servertest.Password, a)
	if msg := server.PublicMessage(err); !strings.Contains(msg, "wait 9 minutes") || server.RetryAfterOf(err) != 8*time.Minute+30*time.Second {
		t.Fatalf("later attempt from A: %q (retry after %v), want the time left", msg, server.RetryAfterOf(err))
	}
	if u, err := svc.Login(t.Context(), "admin", servertest.Password, b); err != nil || u.Name != "admin" {
		t.Fatalf("right password from B while A is locked: %v", err)
	}
	clock.Advance(9 * time.Minute)
	if _, err := svc.Login(t.Context(), "admin", servertest.Password, a); err != nil {
		t.Fatalf("right password from A after the window: %v", err)
	}
}
