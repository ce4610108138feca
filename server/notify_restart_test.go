package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// openRunning opens the server's store (in dir, or store: servertest's
// StoreURL) and runs it (real clock) until the returned stop is called.
func openRunning(t *testing.T, dir, store string) (*jobsFixture, func()) {
	t.Helper()
	s, err := server.Open(dir, slog.New(slog.NewTextHandler(io.Discard, nil)), server.Options{Database: store,
		PasswordHashCost: servertest.CheapPasswordHash(), Ingest: server.IngestOptions{BatchWait: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { s.Run(ctx) })
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		wg.Wait()
		_ = s.Close()
	}
	t.Cleanup(stop)
	return &jobsFixture{s: s, admin: server.CLIActor(), operator: server.CLIActor()}, stop
}

// TestNotifySurvivesRestart: a message its receiver could not take yet is
// kept in the outbox across a server restart and delivered once the
// receiver is back.
func TestNotifySurvivesRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the receiver is down: connections are refused

	dir, store := t.TempDir(), servertest.StoreURL(t)
	f, stop := openRunning(t, dir, store)
	ch := f.channel(t, server.NotificationChannel{Name: "ops", Kind: server.ChannelWebhook, URL: "http://" + addr + "/hook",
		Events: []string{server.NotifyJobFailed}})
	h := f.readyHost(t, "web-2", 2)
	id := f.runBackup(t, h, topics.JobFailed, failedResult())
	waitFor(t, "a refused attempt", func() bool {
		d := f.deliveries(t, ch.ID)
		return len(d) == 1 && d[0].Attempts >= 1 && d[0].State == "pending" && d[0].LastError != ""
	})
	stop()

	rcv := newReceiverOn(t, addr)
	f, _ = openRunning(t, dir, store)
	got := rcv.waitRequests(t, 1)
	p := decodePayload(t, got[0].Body)
	if got[0].Path != "/hook" || p.Event != server.NotifyJobFailed || p.Job == nil || p.Job.ID != id || p.Host.ID != h.id {
		t.Fatalf("after the restart the receiver got %s %+v", got[0].Path, p)
	}
	waitFor(t, "the delivery marked sent", func() bool { return f.deliveries(t, ch.ID)[0].State == "sent" })
}
