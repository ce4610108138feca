package web

import (
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server/servertest"
)

func TestRateLimiterRefillsAndRefunds(t *testing.T) {
	clock := servertest.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	l := newRateLimiter(3, time.Minute, clock.Now)
	for i := range 3 {
		if !l.allow("a") {
			t.Fatalf("attempt %d refused", i)
		}
	}
	if l.allow("a") {
		t.Fatal("fourth attempt in the same instant allowed")
	}
	if !l.allow("b") {
		t.Fatal("another address is limited too")
	}
	clock.Advance(20 * time.Second) // one attempt earned back
	if !l.allow("a") || l.allow("a") {
		t.Fatal("after 20 s exactly one attempt should be back")
	}
	l.refund("a")
	if !l.allow("a") {
		t.Fatal("a refunded attempt is not usable")
	}
	clock.Advance(time.Hour)
	for range 10 {
		l.refund("a") // refunds never raise the bucket past its size
	}
	for i := range 3 {
		if !l.allow("a") {
			t.Fatalf("after an hour, attempt %d refused", i)
		}
	}
	if l.allow("a") {
		t.Fatal("refunds raised the bucket past its size")
	}
}

func TestRateLimiterForgetsIdleAddresses(t *testing.T) {
	clock := servertest.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	l := newRateLimiter(1, time.Minute, clock.Now)
	for i := range maxBuckets {
		l.allow(string(rune(i)))
	}
	clock.Advance(2 * time.Minute)
	l.allow("new")
	if n := len(l.buckets); n != 1 {
		t.Fatalf("%d buckets kept, want only the new one", n)
	}
}
