package agent

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// Queries (#14): the server's short questions on down/query — list a
// folder of a snapshot, search the snapshots, diff two — answered with one
// reply on up/reply. They are not jobs: nothing is journaled or queued,
// they run at once beside a running job (restic's non-exclusive lock),
// within the query's timeout, at most maxQueries at a time; the reply goes
// straight out with QoS 1, not through the outbox (a reply lost with the
// connection just times out on the server, which asks again if asked to).

// maxQueries is how many queries run at once; more are answered busy.
// The server waits for at most as many per host (server.MaxQueriesPerHost).
const maxQueries = 4

// queryHandler answers one query against the applied repository. It
// returns the reply's result (Tree, Find, Diff, ...) set on r, or an error
// (a *restic.BrowseError says which kind).
type queryHandler func(a *Agent, ctx context.Context, q *topics.Query, repo restic.Repository, r *topics.Reply) error

// queryHandlers are the ops this agent answers. A new op adds its handler
// here (and its rules and result in topics).
var queryHandlers = map[topics.QueryOp]queryHandler{
	topics.QueryLs:   answerLs,
	topics.QueryFind: answerFind,
	topics.QueryDiff: answerDiff,
	topics.QueryDump: answerDump,
}

// queryRunner counts and identifies the queries running.
type queryRunner struct {
	mu      sync.Mutex
	running map[string]bool // request ids
	wg      sync.WaitGroup
	// grace is how long a restic of a query may take to stop before it is
	// killed (restic.DefaultBrowseGrace when zero; tests shorten it).
	grace time.Duration
	// listings are the folders ls listed, for the next pages (query_cache.go).
	listings listingCache
	// dumps are the downloads streaming to the server (download.go).
	dumps dumpSlots
}

// WithQueryGrace sets how long a query's restic may take to stop after
// its deadline before it is killed (default restic.DefaultBrowseGrace);
// tests shorten it.
func WithQueryGrace(d time.Duration) Option {
	return func(a *Agent) { a.queries.grace = d }
}

// handleQuery takes a down/query message on paho's callback goroutine: it
// decodes it and starts it on a goroutine of its own, or answers busy.
// A duplicate of a query still running (a QoS 1 redelivery) is ignored.
func (a *Agent) handleQuery(payload []byte, received time.Time) {
	var q topics.Query
	if err := topics.DecodeFrom(payload, a.cfg.HostID, &q); err != nil {
		a.log.Warn("dropped malformed query", "bytes", len(payload), "err", clipText(err.Error()))
		return
	}
	qr := &a.queries
	qr.mu.Lock()
	if qr.running == nil {
		qr.running = make(map[string]bool)
	}
	dup, busy := qr.running[q.ID], len(qr.running) >= maxQueries
	if !dup && !busy {
		qr.running[q.ID] = true
	}
	qr.mu.Unlock()
	switch {
	case dup:
		return
	case busy:
		go a.sendReply(a.failReply(&q, &restic.BrowseError{Kind: topics.ReplyErrBusy,
			Message: "this host is already answering as many requests as it may; try again in a moment"}))
		return
	}
	qr.wg.Add(1)
	go func() {
		defer qr.wg.Done()
		defer func() {
			qr.mu.Lock()
			delete(qr.running, q.ID)
			qr.mu.Unlock()
		}()
		a.sendReply(a.answerQuery(&q, received))
	}()
}

// answerQuery runs q within its timeout (counted from when it arrived)
// and builds its reply.
func (a *Agent) answerQuery(q *topics.Query, received time.Time) *topics.Reply {
	ctx, cancel := context.WithDeadline(a.stopping, received.Add(q.Timeout()))
	defer cancel()
	handle, ok := queryHandlers[q.Op]
	if !ok {
		return a.failReply(q, &restic.BrowseError{Kind: topics.ReplyErrUnsupported,
			Message: "this agent does not know the request " + string(q.Op) + "; upgrade the agent"})
	}
	repo := a.desired.repository()
	if repo == nil {
		return a.failReply(q, &restic.BrowseError{Kind: topics.ReplyErrFailed, Message: reasonNoRepository})
	}
	r := newReply(a.cfg.HostID, q)
	if err := handle(a, ctx, q, *repo, r); err != nil {
		return a.failReply(q, err)
	}
	fitReply(r)
	return r
}

func newReply(host string, q *topics.Query) *topics.Reply {
	return &topics.Reply{Envelope: topics.NewEnvelope(topics.TypeReply, host), Request: q.ID, Op: q.Op}
}

// failReply is the reply saying err in one sentence. A restic that had to
// be killed may have left a stale lock: the next job unlocks first.
func (a *Agent) failReply(q *topics.Query, err error) *topics.Reply {
	r := newReply(a.cfg.HostID, q)
	var be *restic.BrowseError
	if !errors.As(err, &be) {
		be = &restic.BrowseError{Kind: topics.ReplyErrFailed, Message: err.Error()}
	}
	if be.Killed {
		a.staleLock.set("a restic answering a request of the server had to be killed")
	}
	r.Error, r.ErrorKind = clipSentence(be.Message), be.Kind
	return r
}

// clipSentence makes msg one sentence within topics.MaxReplyError.
func clipSentence(msg string) string {
	if len(msg) > topics.MaxReplyError-1 {
		msg = msg[:topics.MaxReplyError-4] + "..."
	}
	if msg != "" && msg[len(msg)-1] != '.' {
		msg += "."
	}
	return msg
}

// replyBudget is the largest reply the agent sends: the payload limit
// less room for the broker's framing.
const replyBudget = topics.MaxPayload - 4<<10

// fitReply shortens a reply that would not fit one message: half of its
// list at a time goes, and Truncated says so. Only pathological names
// (hundreds of bytes each, on a whole page) ever need it.
func fitReply(r *topics.Reply) {
	for {
		b, err := topics.Encode(r)
		if err != nil || len(b) <= replyBudget {
			return
		}
		switch {
		case r.Tree != nil && len(r.Tree.Entries) > 1:
			r.Tree.Entries, r.Tree.Truncated = r.Tree.Entries[:len(r.Tree.Entries)/2], true
		case r.Find != nil && len(r.Find.Matches) > 1:
			r.Find.Matches, r.Find.Truncated = r.Find.Matches[:len(r.Find.Matches)/2], true
		case r.Diff != nil && len(r.Diff.Changes) > 1:
			r.Diff.Changes, r.Diff.Truncated = r.Diff.Changes[:len(r.Diff.Changes)/2], true
		default:
			return
		}
	}
}

// sendReply publishes r on up/reply with QoS 1, straight (not through the
// outbox). A query can arrive between SUBSCRIBE and the end of hello,
// before the connection is handed to the sender: the reply waits for it
// a little. Offline longer, it is dropped: the server gives up too.
func (a *Agent) sendReply(r *topics.Reply) {
	data, err := topics.Encode(r)
	if err != nil {
		a.log.Error("bug: a reply does not encode; the server will time out", "op", r.Op, "err", err)
		return
	}
	c := a.sender.current()
	for wait := time.Now().Add(ackTimeout); c == nil && time.Now().Before(wait) && a.stopping.Err() == nil; c = a.sender.current() {
		time.Sleep(20 * time.Millisecond)
	}
	if c == nil {
		a.log.Info("reply dropped: not connected", "op", r.Op, "request", r.Request)
		return
	}
	tok := c.Publish(topics.ReplyTopic(a.cfg.HostID), 1, false, data)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			a.log.Info("reply not sent", "op", r.Op, "request", r.Request, "err", err)
		}
	case <-time.After(ackTimeout):
		a.log.Info("reply not acknowledged by the broker in time", "op", r.Op, "request", r.Request)
	}
}
