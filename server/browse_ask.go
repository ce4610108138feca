package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// Asking an agent (#14): a query goes out on the host's down/query and
// the caller waits for the one reply naming it on up/reply. Nothing of it
// is stored: a query is not a job, and a lost query or reply just times
// out. The waiting requests are held in memory, bounded per host and in
// all, so a stuck agent or a flood of page views cannot pile them up.

// Bounds of the queries in flight.
const (
	// MaxQueriesPerHost is how many queries may wait for one host's
	// replies at once; the agent runs at most as many restic at once.
	MaxQueriesPerHost = 4
	// MaxQueriesInAll is how many queries may wait in all.
	MaxQueriesInAll = 256
	// defaultReplyGrace is how much longer than the agent's timeout the
	// server waits: the agent answers a query it gave up on with a
	// timeout error, which should arrive before the server gives up.
	defaultReplyGrace = 3 * time.Second
)

// queryPerms is the permission each op needs. Viewers may see names (ls,
// find, diff); an op missing here needs PermRunJobs.
var queryPerms = map[topics.QueryOp]Perm{
	topics.QueryLs:   PermRead,
	topics.QueryFind: PermRead,
	topics.QueryDiff: PermRead,
}

// pendingQueries are the queries waiting for their reply, by request id.
type pendingQueries struct {
	mu      sync.Mutex
	byID    map[string]*pendingQuery
	perHost map[string]int
	// grace replaces defaultReplyGrace when set (tests).
	grace time.Duration
}

type pendingQuery struct {
	host  string
	op    topics.QueryOp
	reply chan *topics.Reply // buffered 1: the first matching reply
}

// add registers a query, or says why it cannot wait now.
func (p *pendingQueries) add(id, host string, op topics.QueryOp) (*pendingQuery, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byID == nil {
		p.byID, p.perHost = make(map[string]*pendingQuery), make(map[string]int)
	}
	switch {
	case p.perHost[host] >= MaxQueriesPerHost:
		return nil, &Error{Code: CodeUnavailable, RetryAfter: 5 * time.Second,
			Message: fmt.Sprintf("This host is already answering %d requests; wait for them, then try again.", MaxQueriesPerHost)}
	case len(p.byID) >= MaxQueriesInAll:
		return nil, &Error{Code: CodeUnavailable, RetryAfter: 5 * time.Second,
			Message: "The server is waiting for too many hosts' answers; try again in a few seconds."}
	}
	q := &pendingQuery{host: host, op: op, reply: make(chan *topics.Reply, 1)}
	p.byID[id] = q
	p.perHost[host]++
	return q, nil
}

// remove forgets a query (answered, timed out or abandoned).
func (p *pendingQueries) remove(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if q, ok := p.byID[id]; ok {
		delete(p.byID, id)
		if p.perHost[q.host]--; p.perHost[q.host] <= 0 {
			delete(p.perHost, q.host)
		}
	}
}

// replyUnknown is why deliver drops a reply naming no waiting query.
const replyUnknown = "reply to an unknown or finished request"

// deliver hands r to the query it names if host asked it; it says why not
// otherwise. Only the first reply is kept.
func (p *pendingQueries) deliver(host string, r *topics.Reply) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	q, ok := p.byID[r.Request]
	switch {
	case !ok:
		return replyUnknown
	case q.host != host:
		return "reply from another host than the one asked"
	case q.op != r.Op:
		return "reply of another op than the one asked"
	}
	select {
	case q.reply <- r:
	default:
		return "second reply to one request"
	}
	return ""
}

// AskAgent sends q to the agent of hostID and waits for its reply, at most
// q's timeout (topics.DefaultQueryTimeout when zero) plus a little. It fills
// q's envelope (a new request id, the host, now) and validates q with
// topics' rules.
//
// It answers at once with CodeHostOffline when the host is not online,
// CodeUnavailable when too many queries wait already (for this host or
// in all), CodeAgentTimeout when no reply came in time. An agent's refusal
// (the reply's Error) comes back as an error whose code follows the
// reply's ErrorKind (not_found: CodeNotFound, busy: CodeUnavailable,
// timeout: CodeAgentTimeout, else CodeAgentFailed) and whose message is
// the agent's sentence; the reply is returned with it. Asking is not
// audited: it changes nothing.
func (s *Service) AskAgent(ctx context.Context, actor Actor, hostID string, q topics.Query) (*topics.Reply, error) {
	perm, ok := queryPerms[q.Op]
	if !ok {
		perm = PermRunJobs
	}
	if err := actor.require(perm); err != nil {
		return nil, err
	}
	if err := s.activeHost(ctx, hostID); err != nil {
		return nil, err
	}
	if !s.presence.isOnline(hostID) {
		return nil, &Error{Code: CodeHostOffline, Message: "This host is offline, so it cannot answer now; try again once it is back online."}
	}
	q.Envelope = topics.NewEnvelope(topics.TypeQuery, hostID)
	if q.TimeoutMS == 0 {
		q.TimeoutMS = topics.DefaultQueryTimeout.Milliseconds()
	}
	if err := q.Validate(); err != nil {
		return nil, &Error{Code: CodeInvalid, Message: sentence(err.Error())}
	}
	payload, err := topics.Encode(&q)
	if err != nil {
		return nil, internal("Could not encode the query", err)
	}
	pub := s.publisher()
	if pub == nil {
		return nil, &Error{Code: CodeUnavailable, Message: "The server's broker is not running yet; try again in a moment."}
	}
	waiting, err := s.queries.add(q.ID, hostID, q.Op)
	if err != nil {
		return nil, err
	}
	defer s.queries.remove(q.ID)
	if err := pub.Publish(topics.QueryTopic(hostID), payload, false, 1); err != nil {
		return nil, &Error{Code: CodeUnavailable, Message: "The server could not send the request to the host; try again.", Err: err}
	}
	grace := s.queries.grace
	if grace == 0 {
		grace = defaultReplyGrace
	}
	timer := time.NewTimer(q.Timeout() + grace)
	defer timer.Stop()
	select {
	case r := <-waiting.reply:
		return r, replyError(r)
	case <-timer.C:
		return nil, &Error{Code: CodeAgentTimeout,
			Message: "The host did not answer in time; it may be busy or its connection slow. Try again."}
	case <-ctx.Done():
		return nil, &Error{Code: CodeUnavailable, Message: "The request was abandoned before the host answered.", Err: ctx.Err()}
	}
}

// replyError turns an agent's refusal into a domain error, or nil.
func replyError(r *topics.Reply) error {
	if r.Error == "" {
		return nil
	}
	msg := "The host says: " + r.Error
	switch r.ErrorKind {
	case topics.ReplyErrNotFound:
		return &Error{Code: CodeNotFound, Message: msg}
	case topics.ReplyErrBusy:
		return &Error{Code: CodeUnavailable, Message: msg, RetryAfter: 5 * time.Second}
	case topics.ReplyErrTimeout:
		return &Error{Code: CodeAgentTimeout, Message: msg}
	}
	return &Error{Code: CodeAgentFailed, Message: msg}
}

// handleReply passes an agent's reply to the query waiting for it. A reply
// nobody waits for (late, duplicated, forged by another host) is dropped.
// Among several replicas every one sees every reply (parts is handleEach,
// ingest_replicas.go) and waits for only its own queries' replies: one
// naming no query here is another replica's, and dropped without a word.
func (s *Service) handleReply(topic, host string, r *topics.Reply, parts handling) {
	switch why := s.queries.deliver(host, r); {
	case why == "":
		s.ingest.Accepted.Add(1)
	case why == replyUnknown && parts == handleEach:
	default:
		s.reject(topic, host, why, nil)
	}
}

// activeHost checks that hostID is an enrolled host that is not revoked.
func (s *Service) activeHost(ctx context.Context, hostID string) error {
	var n int
	err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM hosts WHERE id = ? AND revoked_at IS NULL`, hostID)
	switch {
	case err != nil:
		return internal("Could not load the host", err)
	case n == 0:
		return notFoundf("There is no host with ID %q; it may have been revoked.", clipText(hostID))
	}
	return nil
}
