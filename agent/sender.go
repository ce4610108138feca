package agent

import (
	"context"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/agent/outbox"
)

// DefaultResendAfter is how long an outbox entry may stay unacknowledged
// on one connection before the sender publishes it again. The server
// acknowledges within a second or two; a longer silence means its queue
// dropped the message (DESIGN §3: a bounded queue) or the server restarted
// behind a broker that kept our connection.
const DefaultResendAfter = 60 * time.Second

// Sender limits. A page is read from disk at a time; at most maxInFlight
// QoS 1 publishes wait for their PUBACK, so a backlog of thousands of
// entries after a long offline spell neither floods paho's queue nor waits
// for each PUBACK in turn.
const (
	sendPage    = 128
	maxInFlight = 32
)

// sender publishes the outbox: every entry once on each connection, in seq
// order, and again when it stays unacknowledged for resendAfter or when the
// server asks for a resend. It runs in its own goroutine so that neither
// paho's callbacks nor a job ever wait for the network. It never deletes an
// entry: only the server's down/ack does (see handleAck).
type sender struct {
	ob          *outbox.Outbox
	log         *slog.Logger
	resendAfter time.Duration
	kickCh      chan struct{}

	mu     sync.Mutex
	client mqtt.Client   // nil while offline
	gone   chan struct{} // closed when client is detached
	// cursor is the highest seq published on this connection; restart
	// makes the next pass start again from the first pending entry.
	cursor  uint64
	restart bool
	// lastSent is when each pending entry was last published; stale asks
	// the next pass to republish those older than resendAfter.
	lastSent map[uint64]time.Time
	stale    bool
	inflight []mqtt.Token
}

func newSender(ob *outbox.Outbox, log *slog.Logger, resendAfter time.Duration) *sender {
	return &sender{ob: ob, log: log, resendAfter: resendAfter, kickCh: make(chan struct{}, 1),
		lastSent: map[uint64]time.Time{}}
}

// kick asks for a pass: a new entry was stored.
func (s *sender) kick() {
	select {
	case s.kickCh <- struct{}{}:
	default:
	}
}

// attach starts publishing on a new connection, after its hello: every
// pending entry is published again, in order, since the server may have
// lost whatever the last connection carried.
func (s *sender) attach(c mqtt.Client) {
	s.mu.Lock()
	s.client, s.gone, s.restart, s.inflight = c, make(chan struct{}), true, nil
	s.mu.Unlock()
	s.kick()
}

// detach stops publishing on c (the connection ended).
func (s *sender) detach(c mqtt.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == c && c != nil {
		s.client = nil
		close(s.gone)
	}
}

// current is the connected client, or nil; progress goes out through it.
func (s *sender) current() mqtt.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client
}

// resendAll republishes every pending entry (the server's ack asked for it).
func (s *sender) resendAll() {
	s.mu.Lock()
	s.restart = true
	s.mu.Unlock()
	s.kick()
}

// acked forgets the send times of entries the server acknowledged.
func (s *sender) acked(seqs []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seq := range seqs {
		delete(s.lastSent, seq)
	}
}

// run publishes until ctx is done.
func (s *sender) run(ctx context.Context) {
	tick := time.NewTicker(max(s.resendAfter/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kickCh:
		case <-tick.C:
			if !s.anyStale(time.Now()) {
				continue
			}
		}
		s.pass(ctx)
	}
}

// anyStale marks a republishing pass due when some entry has waited for
// its ack longer than resendAfter.
func (s *sender) anyStale(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, at := range s.lastSent {
		if now.Sub(at) >= s.resendAfter {
			s.stale = true
			return true
		}
	}
	return false
}

// pass publishes what is due on the current connection: a stale pass
// first republishes old unacknowledged entries up to the cursor, then
// everything above the cursor goes out in seq order.
func (s *sender) pass(ctx context.Context) {
	s.mu.Lock()
	c, gone := s.client, s.gone
	if s.restart {
		s.cursor, s.restart, s.stale = 0, false, false
		clear(s.lastSent)
	}
	stale := s.stale
	s.stale = false
	s.mu.Unlock()
	if c == nil {
		return
	}
	if stale && !s.republishStale(ctx, c, gone) {
		return
	}
	for ctx.Err() == nil {
		s.mu.Lock()
		from := s.cursor
		s.mu.Unlock()
		page, err := s.ob.Pending(from, sendPage)
		if err != nil {
			s.log.Error("cannot read the outbox; will retry", "err", err)
			return
		}
		if len(page) == 0 {
			return
		}
		for _, e := range page {
			if !s.publish(c, gone, e) {
				return
			}
			s.mu.Lock()
			if s.client != c || s.restart {
				s.mu.Unlock()
				s.kick() // a new connection or a resend request: start over
				return
			}
			s.cursor = e.Seq
			s.mu.Unlock()
		}
	}
}

// republishStale publishes again the entries up to the cursor that were
// last sent more than resendAfter ago, and forgets send times of entries
// that are gone (acknowledged).
func (s *sender) republishStale(ctx context.Context, c mqtt.Client, gone chan struct{}) bool {
	cutoff := time.Now().Add(-s.resendAfter)
	s.mu.Lock()
	upTo := s.cursor
	s.mu.Unlock()
	seen := map[uint64]bool{}
	var after uint64
	resent := 0
	for ctx.Err() == nil && after < upTo {
		page, err := s.ob.Pending(after, sendPage)
		if err != nil || len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.Seq > upTo {
				break
			}
			seen[e.Seq] = true
			after = e.Seq
			s.mu.Lock()
			at, ok := s.lastSent[e.Seq]
			s.mu.Unlock()
			if ok && at.After(cutoff) {
				continue
			}
			if !s.publish(c, gone, e) {
				return false
			}
			resent++
		}
		if page[len(page)-1].Seq > upTo {
			break
		}
	}
	s.mu.Lock()
	for seq := range s.lastSent {
		if seq <= upTo && !seen[seq] {
			delete(s.lastSent, seq)
		}
	}
	s.mu.Unlock()
	if resent > 0 {
		s.log.Info("republished outbox entries the server has not acknowledged in time", "after", s.resendAfter, "entries", resent)
	}
	return true
}

// publish sends one entry with QoS 1, keeping at most maxInFlight PUBACKs
// outstanding. It reports false when the connection is gone.
func (s *sender) publish(c mqtt.Client, gone chan struct{}, e outbox.Entry) bool {
	s.mu.Lock()
	for len(s.inflight) >= maxInFlight {
		tok := s.inflight[0]
		s.inflight = s.inflight[1:]
		s.mu.Unlock()
		select {
		case <-tok.Done():
		case <-gone:
			return false
		case <-time.After(ackTimeout):
			// The broker is slow; the entry stays pending and goes out
			// again later, so just stop waiting for this PUBACK.
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	select {
	case <-gone:
		return false
	default:
	}
	tok := c.Publish(e.Topic, 1, false, e.Payload)
	s.mu.Lock()
	s.inflight = append(s.inflight, tok)
	s.lastSent[e.Seq] = time.Now()
	s.mu.Unlock()
	return true
}
