package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Several server replicas on one PostgreSQL store (#15, docs/replicas.md).
//
//   - The leader lease: the background work that must run once for the
//     whole fleet (notifications, the health evaluator, stats queueing,
//     the monitor feed's republish; docs/replicas.md has the table) runs on the replica holding a
//     session-level advisory lock, taken on a connection of its own. The
//     others try again every ClusterOptions.LeaderRetry. The leader pings
//     its connection as often; when the ping fails or takes longer than
//     leaderPingTimeout (the database or the network went away) it
//     cancels the singleton work at once and closes the connection,
//     which releases the lock, and another replica (or it again) takes
//     the lease. A replica that dies loses its connection,
//     and PostgreSQL releases the lock with it.
//   - The event bridge: what one replica's Bus publishes, every other
//     replica's Bus publishes too (SSE streams, the leader's notification
//     watch), through LISTEN/NOTIFY on one channel. A replica ignores its
//     own notifications. When its listening connection is lost it
//     reconnects and tells its own subscribers to re-read everything
//     (EventResync): what was notified in between is gone.
//
// On SQLite there is one process: it is always the leader and nothing is
// bridged.

// ClusterOptions tunes the leader lease. Zero values mean defaults.
type ClusterOptions struct {
	// LeaderRetry is how often a replica that is not the leader tries to
	// take the lease, how often the leader checks its lease's connection,
	// and how long the event bridge waits before connecting again.
	// Default 3 s.
	LeaderRetry time.Duration
}

func (o ClusterOptions) withDefaults() ClusterOptions {
	if o.LeaderRetry <= 0 {
		o.LeaderRetry = 3 * time.Second
	}
	return o
}

// leaderPingTimeout is how long the leader waits for its lease
// connection's ping: a busy database or machine (a slow ping) does not
// cost the lease, a database gone does, within LeaderRetry plus this.
const leaderPingTimeout = 5 * time.Second

// leaderLockKey is the session-level advisory lock the leader holds. Its
// number differs from writeLockKey (a transaction-level lock on the same
// key space would wait on it).
const leaderLockKey = 0x726d5f6c65616465 // "rm_leade"

// eventsChannel is the LISTEN/NOTIFY channel of the event bridge.
const eventsChannel = "rm_events"

// maxNotifyPayload bounds one notification's JSON: PostgreSQL refuses
// payloads of 8,000 bytes or more.
const maxNotifyPayload = 7000

// cluster is a replica's part in the lease and the bridge.
type cluster struct {
	opts    ClusterOptions
	id      string       // this replica, in the notifications it sends
	leading atomic.Bool  // holds the lease (always on SQLite while Run runs)
	bridged atomic.Bool  // the bridge's listener is connected
	terms   atomic.Int64 // how many times this replica took the lease

	leadMu sync.Mutex
	leadCh chan struct{} // closed while this replica leads (setLeading)
}

func newCluster(opts ClusterOptions) *cluster {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &cluster{opts: opts.withDefaults(), id: hex.EncodeToString(b), leadCh: make(chan struct{})}
}

// setLeading says whether this replica holds the lease now.
func (c *cluster) setLeading(v bool) {
	c.leadMu.Lock()
	defer c.leadMu.Unlock()
	c.leading.Store(v)
	select {
	case <-c.leadCh: // closed: leading until now
		if !v {
			c.leadCh = make(chan struct{})
		}
	default:
		if v {
			close(c.leadCh)
		}
	}
}

// whenLeading is a channel closed while this replica leads: work that
// runs on the leader alone but is asked for on every replica (a
// republish) waits on it.
func (c *cluster) whenLeading() <-chan struct{} {
	c.leadMu.Lock()
	defer c.leadMu.Unlock()
	return c.leadCh
}

// Leading reports whether this replica runs the singleton background work
// now: on SQLite whenever Run runs, on PostgreSQL while it holds the lease.
func (s *Service) Leading() bool { return s.cluster.leading.Load() }

// ReplicaID names this replica in the event bridge's notifications and in
// its log lines about the lease.
func (s *Service) ReplicaID() string { return s.cluster.id }

// runLeader runs work while this replica holds the lease, until ctx ends.
// work gets a context cancelled when the lease is lost; runLeader waits for
// it to return before it tries to take the lease again.
func (s *Service) runLeader(ctx context.Context, work func(context.Context)) {
	if s.db.pg == nil {
		s.cluster.setLeading(true)
		defer s.cluster.setLeading(false)
		work(ctx)
		return
	}
	retry := s.cluster.opts.LeaderRetry
	t := time.NewTicker(retry)
	defer t.Stop()
	for {
		if err := s.leadOnce(ctx, work); err != nil && ctx.Err() == nil {
			s.log.Warn("cluster: leader lease", "replica", s.cluster.id, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// leadOnce connects, waits for the lease while the connection lasts, and
// runs work while it holds it. It returns when the connection fails or ctx
// ends; closing the connection releases the lease.
func (s *Service) leadOnce(ctx context.Context, work func(context.Context)) error {
	retry := s.cluster.opts.LeaderRetry
	conn, err := pgx.ConnectConfig(ctx, s.db.pg.Copy())
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), retry)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	t := time.NewTicker(retry)
	defer t.Stop()
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(leaderLockKey)).Scan(&got); err != nil {
			return err
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	s.log.Info("cluster: this replica is the leader: it runs the singleton background work", "replica", s.cluster.id)
	workCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	s.cluster.terms.Add(1)
	s.cluster.setLeading(true)
	go func() { defer close(done); work(workCtx) }()
	defer func() {
		stop()
		<-done
		s.cluster.setLeading(false)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		pingCtx, cancel := context.WithTimeout(ctx, leaderPingTimeout)
		err := conn.Ping(pingCtx)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("cluster: lost the leader lease's connection: the singleton background work stops here", "replica", s.cluster.id, "err", err)
			return nil
		}
	}
}

// bridgeEvent is an Event on the wire between replicas: IDs only, as on
// the Bus, with short keys (a host.updated for every host of a large
// fleet is many notifications).
type bridgeEvent struct {
	Kind   string        `json:"k"`
	HostID string        `json:"h,omitempty"`
	JobID  int64         `json:"j,omitempty"`
	UserID int64         `json:"u,omitempty"`
	Health *HealthChange `json:"hc,omitempty"`
}

// bridgeMessage is one notification: the sending replica and its events.
type bridgeMessage struct {
	Origin string        `json:"o"`
	Events []bridgeEvent `json:"e"`
}

// runEventBridge shares this replica's events with the others and
// publishes theirs here, until ctx ends. Nothing on SQLite.
func (s *Service) runEventBridge(ctx context.Context) {
	if s.db.pg == nil {
		return
	}
	done := make(chan struct{})
	go func() { defer close(done); s.sendBridgedEvents(ctx) }()
	defer func() { <-done }()
	retry := s.cluster.opts.LeaderRetry
	t := time.NewTicker(retry)
	defer t.Stop()
	for first := true; ; first = false {
		if err := s.listenEvents(ctx, !first); err != nil && ctx.Err() == nil {
			s.log.Warn("cluster: event bridge: listening connection lost; connecting again", "replica", s.cluster.id, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// listenEvents listens on eventsChannel and publishes the other replicas'
// events on the local Bus until the connection fails or ctx ends. After a
// lost connection (resync) the local subscribers are told to re-read
// everything once it listens again.
func (s *Service) listenEvents(ctx context.Context, resync bool) error {
	conn, err := pgx.ConnectConfig(ctx, s.db.pg.Copy())
	if err != nil {
		return err
	}
	defer func() {
		s.cluster.bridged.Store(false)
		closeCtx, cancel := context.WithTimeout(context.Background(), s.cluster.opts.LeaderRetry)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+eventsChannel); err != nil {
		return err
	}
	s.cluster.bridged.Store(true)
	if resync {
		s.events.Publish(Event{Kind: EventResync, remote: true})
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var m bridgeMessage
		if err := json.Unmarshal([]byte(n.Payload), &m); err != nil {
			s.log.Warn("cluster: event bridge: unreadable notification", "err", err)
			continue
		}
		if m.Origin == s.cluster.id {
			continue
		}
		for _, e := range m.Events {
			s.events.Publish(Event{Kind: e.Kind, HostID: e.HostID, JobID: e.JobID, UserID: e.UserID, Health: e.Health, remote: true})
		}
	}
}

// bridgeQueue is the bridge's subscription's buffer: large, since a
// subscriber that falls behind gets a resync, which the bridge passes on
// to every other replica's subscribers.
const bridgeQueue = 1024

// sendBridgedEvents notifies the other replicas of the local Bus's events
// (not those the bridge itself published), several per notification.
func (s *Service) sendBridgedEvents(ctx context.Context) {
	events, stop := s.events.subscribe(bridgeQueue)
	defer stop()
	for {
		var e Event
		select {
		case <-ctx.Done():
			return
		case e = <-events:
		}
		m := bridgeMessage{Origin: s.cluster.id}
		size := 0
		for more := true; more; {
			if !e.remote {
				b := bridgeEvent{Kind: e.Kind, HostID: e.HostID, JobID: e.JobID, UserID: e.UserID, Health: e.Health}
				one, _ := json.Marshal(b)
				if len(one) > maxNotifyPayload/2 { // never from the IDs events carry; said as "re-read everything"
					b, one = bridgeEvent{Kind: EventResync}, []byte(`{"k":"resync"}`)
				}
				m.Events = append(m.Events, b)
				size += len(one) + 1
			}
			if size > maxNotifyPayload/2 {
				break
			}
			select {
			case e = <-events:
			default:
				more = false
			}
		}
		if len(m.Events) == 0 {
			continue
		}
		payload, err := json.Marshal(m)
		if err == nil {
			_, err = s.db.w.ExecContext(ctx, `SELECT pg_notify(?, ?)`, eventsChannel, string(payload))
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("cluster: event bridge: notify", "events", len(m.Events), "err", err)
		}
	}
}
