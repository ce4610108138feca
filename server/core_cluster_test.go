package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// clusterRetry is the replicas' LeaderRetry in these tests.
const clusterRetry = 50 * time.Millisecond

// replica is a Service running (Run) on a store another may share.
type replica struct {
	s    *server.Service
	stop func() // ends Run and waits for it
}

// startReplicas opens n Services on one new PostgreSQL database and one
// data directory (the same master key, as replicas share it), one after
// the other, and runs each until the test ends or its stop is called.
func startReplicas(t *testing.T, n int) []*replica {
	t.Helper()
	return startReplicasWith(t, n, server.Options{}, nil)
}

// startReplicasWith is startReplicas with more options (Database,
// PasswordHashCost and Cluster are set here) and, when before is set, a
// call on each Service before it runs (e.g. SetPublisher).
func startReplicasWith(t testing.TB, n int, opts server.Options, before func(i int, s *server.Service)) []*replica {
	t.Helper()
	url, dir := servertest.PostgresURL(t), t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.Default()
	}
	var out []*replica
	for i := range n {
		opts.Database, opts.PasswordHashCost = url, servertest.CheapPasswordHash()
		opts.Cluster = server.ClusterOptions{LeaderRetry: clusterRetry}
		s, err := server.Open(dir, logger, opts)
		if err != nil {
			t.Fatal(err)
		}
		if before != nil {
			before(i, s)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.Run(ctx) }()
		r := &replica{s: s, stop: sync.OnceFunc(func() { cancel(); <-done })}
		t.Cleanup(func() { r.stop(); s.Close() })
		out = append(out, r)
	}
	return out
}

// leaders is the replicas leading now (by index).
func leaders(rs []*replica) []int {
	var out []int
	for i, r := range rs {
		if r.s.Leading() {
			out = append(out, i)
		}
	}
	return out
}

// waitOneLeader waits until exactly one of rs leads and returns it.
func waitOneLeader(t *testing.T, rs []*replica) int {
	t.Helper()
	var l []int
	waitFor(t, "exactly one leader", func() bool { l = leaders(rs); return len(l) == 1 })
	return l[0]
}

// TestLeaderLeaseOnPostgres: of two replicas on one database one leads;
// a leader whose lease connection is cut stops leading and a replica
// takes the lease again; a leader that stops hands it to the other.
func TestLeaderLeaseOnPostgres(t *testing.T) {
	t.Parallel()
	rs := startReplicas(t, 2)
	l := waitOneLeader(t, rs)
	terms := rs[0].s.LeaderTerms() + rs[1].s.LeaderTerms()

	// The database ends the lease's session (as when the leader's network
	// or the database restarts): the leader notices at its next ping.
	res, err := rs[0].s.DB().ExecContext(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND ((classid::bigint << 32) | objid::bigint) = ?`, int64(server.LeaderLockKey))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("terminated %d lease sessions, want 1", n)
	}
	waitFor(t, "a new lease after the cut", func() bool {
		return rs[0].s.LeaderTerms()+rs[1].s.LeaderTerms() > terms && len(leaders(rs)) == 1
	})
	l = waitOneLeader(t, rs)

	rs[l].stop()
	if rs[l].s.Leading() {
		t.Fatal("a stopped replica still leads")
	}
	waitFor(t, "the other replica to lead", func() bool { return rs[1-l].s.Leading() })
}

// TestLeaderOnSQLite: on SQLite the one process leads while Run runs.
func TestLeaderOnSQLite(t *testing.T) {
	t.Parallel()
	s := servertest.MustOpenSQLiteService(t, server.Options{})
	if s.Leading() {
		t.Fatal("leads before Run")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	waitFor(t, "the process to lead", s.Leading)
	cancel()
	<-done
	if s.Leading() || s.Bridged() {
		t.Fatalf("after Run: leading %v, bridged %v", s.Leading(), s.Bridged())
	}
}

// eventLog records what a Bus subscription receives.
type eventLog struct {
	mu  sync.Mutex
	got []server.Event
}

func subscribeLog(t *testing.T, s *server.Service) *eventLog {
	t.Helper()
	ch, stop := s.Events().Subscribe()
	t.Cleanup(stop)
	l := &eventLog{}
	go func() {
		for e := range ch {
			l.mu.Lock()
			l.got = append(l.got, e)
			l.mu.Unlock()
		}
	}()
	return l
}

// count is how many received events match e (Kind, HostID, JobID).
func (l *eventLog) count(kind, host string, job int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.got {
		if e.Kind == kind && e.HostID == host && e.JobID == job {
			n++
		}
	}
	return n
}

// TestEventBridge: an event one replica publishes reaches the other's
// subscribers with its fields, and not its own twice; a replica whose
// listening connection is cut tells its subscribers to re-read everything
// once it listens again, and hears the others again.
func TestEventBridge(t *testing.T) {
	t.Parallel()
	rs := startReplicas(t, 2)
	a, b := rs[0].s, rs[1].s
	waitFor(t, "both bridges listening", func() bool { return a.Bridged() && b.Bridged() })
	la, lb := subscribeLog(t, a), subscribeLog(t, b)

	a.Events().Publish(server.Event{Kind: server.EventJobUpdated, HostID: "h1", JobID: 7})
	waitFor(t, "replica b to hear a's event", func() bool { return lb.count(server.EventJobUpdated, "h1", 7) == 1 })
	health := &server.HealthChange{HostName: "web-1", HostHealth: server.HostHealth{Overdue: true, OverdueAfterSeconds: 60}}
	b.Events().Publish(server.Event{Kind: server.EventHostOverdue, HostID: "h2", Health: health})
	// PostgreSQL delivers notifications to a listener in commit order: had
	// a's own event come back to a, it would be there before b's.
	waitFor(t, "replica a to hear b's event", func() bool { return la.count(server.EventHostOverdue, "h2", 0) == 1 })
	if n := la.count(server.EventJobUpdated, "h1", 7); n != 1 {
		t.Fatalf("replica a received its own event %d times, want once", n)
	}
	la.mu.Lock()
	for _, e := range la.got {
		if e.Kind == server.EventHostOverdue && (e.Health == nil || *e.Health != *health) {
			t.Errorf("bridged health %+v, want %+v", e.Health, health)
		}
	}
	la.mu.Unlock()

	if _, err := a.DB().ExecContext(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN rm_events'`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica b's subscribers told to resync", func() bool { return lb.count(server.EventResync, "", 0) >= 1 })
	waitFor(t, "replica a listening again", a.Bridged)
	a.Events().Publish(server.Event{Kind: server.EventHostCreated, HostID: "h3"})
	waitFor(t, "replica b to hear a again", func() bool { return lb.count(server.EventHostCreated, "h3", 0) == 1 })
}

// TestNotificationsSentOnceByTwoReplicas: with two replicas on one store,
// a queued message (a channel's test) and a host that became overdue on
// the replica that does not lead each reach the webhook once — the
// delivery worker and the health notifications run on the leader only,
// which hears the other replica's health event through the bridge. The
// webhook answers slowly, as real ones may: two workers would both pick
// the row while the first waits for its answer.
func TestNotificationsSentOnceByTwoReplicas(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p server.NotificationPayload
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &p)
		mu.Lock()
		got = append(got, p.Event)
		mu.Unlock()
		time.Sleep(1500 * time.Millisecond) // a slow webhook, not a synchronisation
	}))
	t.Cleanup(rcv.Close)
	rs := startReplicas(t, 2)
	waitFor(t, "both bridges listening", func() bool { return rs[0].s.Bridged() && rs[1].s.Bridged() })
	f := rs[1-waitOneLeader(t, rs)].s // not the leader
	admin := server.CLIActor()
	ch, err := f.CreateNotificationChannel(t.Context(), admin, server.NotificationChannel{Name: "ops", Kind: server.ChannelWebhook,
		URL: rcv.URL, Events: []string{server.NotifyHostOverdue}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.TestNotificationChannel(t.Context(), admin, ch.ID); err != nil {
		t.Fatal(err)
	}
	host := servertest.EnrollHost(t, f, "web-1")
	f.Events().Publish(server.Event{Kind: server.EventHostOverdue, HostID: host,
		Health: &server.HealthChange{HostName: "web-1", HostHealth: server.HostHealth{Overdue: true, OverdueAfterSeconds: 3600}}})
	waitFor(t, "both messages sent", func() bool {
		d, err := f.ListNotificationDeliveries(t.Context(), admin, server.DeliveryFilter{State: "sent"})
		return err == nil && len(d) == 2
	})
	for _, r := range rs {
		r.stop() // no send is left in flight
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(got)
	if want := []string{server.NotifyHostOverdue, server.NotifyTest}; !slices.Equal(got, want) {
		t.Fatalf("the webhook received %v, want %v once each", got, want)
	}
}
