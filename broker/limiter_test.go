package broker

import (
	"testing"
	"time"
)

func TestAddrLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newAddrLimiter(3, time.Minute)
	l.now = func() time.Time { return now }
	for i := 1; i <= 3; i++ {
		if ok, _ := l.allow("10.0.0.1"); !ok {
			t.Fatalf("attempt %d refused", i)
		}
	}
	if ok, first := l.allow("10.0.0.1"); ok || !first {
		t.Fatalf("4th attempt: ok=%v first=%v, want refused and first", ok, first)
	}
	if ok, first := l.allow("10.0.0.1"); ok || first {
		t.Fatalf("5th attempt: ok=%v first=%v, want refused, not first", ok, first)
	}
	if ok, _ := l.allow("10.0.0.2"); !ok {
		t.Fatal("another address was refused")
	}
	now = now.Add(time.Minute)
	if ok, _ := l.allow("10.0.0.1"); !ok {
		t.Fatal("still refused in the next window")
	}

	f := newAddrLimiter(2, 5*time.Minute)
	f.now = func() time.Time { return now }
	if f.fail("10.0.0.9") || !f.fail("10.0.0.9") || !f.blocked("10.0.0.9") {
		t.Fatal("2 failures did not block")
	}
	now = now.Add(4 * time.Minute)
	if !f.blocked("10.0.0.9") {
		t.Fatal("unblocked too early")
	}
	now = now.Add(time.Minute)
	if f.blocked("10.0.0.9") {
		t.Fatal("still blocked after the window")
	}
	now = now.Add(10 * time.Minute)
	f.allow("10.0.0.8") // triggers a sweep
	if len(f.addrs) != 1 {
		t.Errorf("sweep left %d addresses, want 1", len(f.addrs))
	}
	if off := newAddrLimiter(-1, time.Minute); off.fail("x") || off.blocked("x") {
		t.Error("a disabled limiter limits")
	}
}
