package server

import (
	"context"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// The writer is one connection, and database/sql hands it to a random
// waiter when it is put back. Besides the API's writes, two background
// writers queue for it all the time under load: the ingest writer (a batch
// of log lines and job events per transaction) and the presence flush (a
// reconnect storm's hosts in one transaction). An API write then waited
// for several of their transactions, not one: job POSTs p99 0.6-0.9 s and
// "delivered" p99 1.8 s at 1,000 agents with 8 API clients, POSTs up to
// 6.6 s during a heavy ingest (docs/scale.md).
//
// So the background writers yield: before beginning its transaction, a
// background writer (inBackgroundTx) waits while any other write waits for
// the writer, so those go first and wait for at most the one background
// transaction in progress. It waits at most maxYield, so a steady stream
// of API writes delays the background work but never stops it. This
// orders the server's writers in Go; SQLite (and PostgreSQL's advisory
// lock) still serialise them. The ingest writer waits for its turn in its
// own loop instead (runIngestWriter), storing the job events that arrive
// meanwhile, and begins its batches with inTurnTx.
const maxYield = 250 * time.Millisecond

// writeTurns counts the foreground writes waiting for the writer, and
// queues every write for it in the order they asked.
type writeTurns struct {
	mu      sync.Mutex
	waiting int
	clear   chan struct{} // closed when waiting drops to 0; nil while it is 0

	// gate (SQLite) lets one write at a time ask database/sql for the
	// writer; the others wait here, first come first served (a channel's
	// senders are woken in order). database/sql hands a connection put
	// back to a random waiter: with 8 API clients posting and the ingest
	// writer, a write lost that draw again and again — POSTs waited p50
	// 9 ms, p99 78 ms for a connection each transaction held well under a
	// millisecond (docs/scale.md). nil on PostgreSQL, whose pool is not
	// one connection: a gate held there while a write waits for a
	// connection and the write lock made TestPendingHostsExpire fail on
	// PostgreSQL (not investigated further), and the lock's waiters are
	// queued by PostgreSQL itself.
	gate chan struct{}
}

// enter waits for the write's turn to ask for the writer; leave is to be
// called once it has the writer (or gave up).
func (t *writeTurns) enter(ctx context.Context) (leave func(), err error) {
	if t.gate == nil || ctx.Value(aheadOfTurn{}) != nil {
		return func() {}, nil
	}
	select {
	case t.gate <- struct{}{}:
		return func() { <-t.gate }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// backgroundWrite marks the context of a background writer's transaction.
type backgroundWrite struct{}

// waitFor records a write waiting for the writer until the returned func
// is called; a background writer's (ctx from inBackgroundTx) is not
// recorded.
func (t *writeTurns) waitFor(ctx context.Context) (done func()) {
	if ctx.Value(backgroundWrite{}) != nil {
		return func() {}
	}
	t.mu.Lock()
	if t.waiting == 0 {
		t.clear = make(chan struct{})
	}
	t.waiting++
	t.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			t.waiting--
			if t.waiting == 0 {
				close(t.clear)
				t.clear = nil
			}
			t.mu.Unlock()
		})
	}
}

// busy reports whether a foreground write waits for the writer now (a
// background transaction then ends early: flushIngest).
func (t *writeTurns) busy() bool { return t.waiters() != nil }

// waiters returns a channel closed once no foreground write waits for the
// writer, or nil when none waits now.
func (t *writeTurns) waiters() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.clear
}

// yield waits until no foreground write waits for the writer, for at most
// maxYield.
func (t *writeTurns) yield(ctx context.Context) {
	c := t.waiters()
	if c == nil {
		return
	}
	timer := time.NewTimer(maxYield)
	defer timer.Stop()
	select {
	case <-c:
	case <-timer.C:
	case <-ctx.Done():
	}
}

// inBackgroundTx is inTx for a background writer (the presence flush):
// it lets waiting foreground writes go first.
func (db *DB) inBackgroundTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	db.turns.yield(ctx)
	return db.inTurnTx(ctx, fn)
}

// aheadOfTurn marks the context of a write that does not queue at the
// gate: it asks for the writer beside the write at the gate's head.
type aheadOfTurn struct{}

// inEventsTx is inTx for the ingest writer's batches of job events only: a
// handful of short UPDATEs that a dispatch waits for ("delivered"), which
// do not queue behind every API write waiting at the gate but ask for the
// writer beside the one at its head (so each API write still waits for at
// most one such batch). Like inTurnTx it is not counted as a waiting
// foreground write.
func (db *DB) inEventsTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return db.inTurnTx(context.WithValue(ctx, aheadOfTurn{}, true), fn)
}

// inTurnTx is inTx for a background writer that let the waiting
// foreground writes go first itself: the ingest writer, which waits for
// its turn in its own loop so that job events arriving meanwhile are not
// held up behind it (runIngestWriter). Its transaction is not counted as a
// waiting foreground write.
func (db *DB) inTurnTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return db.inTx(context.WithValue(ctx, backgroundWrite{}, true), fn)
}
