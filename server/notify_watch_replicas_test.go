package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// TestHealthNoticeToldByTheNextLeader: a health transition stored while
// no replica leads (nobody's notification watch hears its event) is queued
// by the replica that takes the lease next, and by no later leader again.
func TestHealthNoticeToldByTheNextLeader(t *testing.T) {
	t.Parallel()
	rcv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(rcv.Close)
	url, dir := servertest.PostgresURL(t), t.TempDir()
	clock := servertest.NewClock(time.Now().UTC())
	open := func() *server.Service {
		s, err := server.Open(dir, slog.New(slog.NewTextHandler(io.Discard, nil)), server.Options{Database: url, Now: clock.Now,
			PasswordHashCost: servertest.CheapPasswordHash(), Cluster: server.ClusterOptions{LeaderRetry: clusterRetry}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	run := func(s *server.Service) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.Run(ctx) }()
		stop = sync.OnceFunc(func() { cancel(); <-done })
		t.Cleanup(stop)
		return stop
	}
	admin := server.CLIActor()
	overdue := func(s *server.Service, host string) int {
		d, err := s.ListNotificationDeliveries(t.Context(), admin, server.DeliveryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, x := range d {
			if x.Event == server.NotifyHostOverdue && x.HostID == host {
				n++
			}
		}
		return n
	}

	a := open() // never runs: while it finds the transition, no replica leads
	if _, err := a.CreateNotificationChannel(t.Context(), admin, server.NotificationChannel{Name: "ops", Kind: server.ChannelWebhook,
		URL: rcv.URL, Events: []string{server.NotifyHostOverdue}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	host := servertest.EnrollHost(t, a, "web-1")
	clock.Advance(30 * 24 * time.Hour)
	if err := a.CheckHealth(t.Context()); err != nil {
		t.Fatal(err)
	}
	if h, err := a.GetHost(t.Context(), host); err != nil || !h.Overdue {
		t.Fatalf("the host is not overdue after 30 days: %+v %v", h, err)
	}
	if n := overdue(a, host); n != 0 {
		t.Fatalf("%d notices queued with no leader", n)
	}

	b := open()
	stopB := run(b)
	waitFor(t, "b to lead", b.Leading)
	waitFor(t, "the new leader to queue the untold notice", func() bool { return overdue(b, host) == 1 })

	// A later leader finds it told. Its watch handles an event for another
	// host after its catch-up: once that is queued, the catch-up is done.
	stopB()
	c := open()
	run(c)
	waitFor(t, "c to lead", c.Leading)
	other := servertest.EnrollHost(t, c, "web-2")
	c.Events().Publish(server.Event{Kind: server.EventHostOverdue, HostID: other,
		Health: &server.HealthChange{HostName: "web-2", HostHealth: server.HostHealth{Overdue: true, OverdueAfterSeconds: 3600}}})
	waitFor(t, "c's watch to queue an event's notice", func() bool { return overdue(c, other) == 1 })
	if n := overdue(c, host); n != 1 {
		t.Fatalf("the transition was told %d times, want once", n)
	}
}
