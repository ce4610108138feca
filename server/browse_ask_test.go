package server_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// askFixture is a service with two online hosts and a publisher whose
// hook plays the agent: answer gets each query as it is published.
type askFixture struct {
	s      *server.Service
	a, b   string
	viewer server.Actor
	pub    *servertest.Publisher
	mu     sync.Mutex
	answer func(q *topics.Query)
}

func newAskFixture(t *testing.T) *askFixture {
	f := &askFixture{s: servertest.MustOpenService(t, server.Options{}), pub: &servertest.Publisher{}}
	f.a, f.b = enrollTestHost(t, f.s, "browse-a"), enrollTestHost(t, f.s, "browse-b")
	f.s.Presence().Connected(f.a, 1, "x")
	f.s.Presence().Connected(f.b, 2, "y")
	f.viewer = servertest.ActorFor(servertest.MustCreateUser(t, f.s, "viewer", server.RoleViewer), "web")
	f.pub.Hook = func(m servertest.PublishedMessage) {
		if !strings.HasSuffix(m.Topic, "/down/query") {
			return
		}
		var q topics.Query
		if err := topics.Decode(m.Payload, &q); err != nil {
			t.Errorf("the server published an invalid query: %v", err)
			return
		}
		f.mu.Lock()
		answer := f.answer
		f.mu.Unlock()
		if answer != nil {
			answer(&q)
		}
	}
	f.s.SetPublisher(f.pub)
	return f
}

func (f *askFixture) onQuery(fn func(q *topics.Query)) {
	f.mu.Lock()
	f.answer = fn
	f.mu.Unlock()
}

// reply sends r as host from's publishing client.
func (f *askFixture) reply(t *testing.T, from string, r *topics.Reply) {
	t.Helper()
	r.Envelope = topics.NewEnvelope(topics.TypeReply, from)
	data, err := topics.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	f.s.HandleMessage(topics.ReplyTopic(from), data, from, 1)
}

func lsQuery() topics.Query {
	return topics.Query{Op: topics.QueryLs, Snapshot: "latest", Path: "/srv", TimeoutMS: 5000}
}

func treeReply(q *topics.Query, name string) *topics.Reply {
	return &topics.Reply{Request: q.ID, Op: q.Op, Tree: &topics.TreePage{Path: q.Path, PageSize: topics.TreePageSize, Total: 1,
		Entries: []topics.TreeEntry{{Name: name, Type: "file"}}}}
}

// TestAskAgentMatchesReplies: the reply naming the request, from the host
// asked, is the answer; a reply from another host, for an unknown
// request or of another op is dropped and counted.
func TestAskAgentMatchesReplies(t *testing.T) {
	f := newAskFixture(t)
	f.onQuery(func(q *topics.Query) {
		if q.Host != f.a || q.TimeoutMS != 5000 {
			t.Errorf("query = %+v, want one to host A with the timeout asked", q)
		}
		f.reply(t, f.b, treeReply(q, "forged-by-b")) // B answers A's request
		stale := treeReply(q, "stale")               // an answer to a request long gone
		stale.Request = topics.NewMessageID()
		f.reply(t, f.a, stale)
		other := &topics.Reply{Request: q.ID, Op: topics.QueryFind, Find: &topics.FindResult{}} // another op
		f.reply(t, f.a, other)
		f.reply(t, f.a, treeReply(q, "genuine"))
		f.reply(t, f.a, treeReply(q, "second")) // the request is answered: unknown now
	})
	before := f.s.Stats().Rejected.Load()
	r, err := f.s.AskAgent(t.Context(), f.viewer, f.a, lsQuery())
	if err != nil {
		t.Fatal(err)
	}
	if r.Tree == nil || r.Tree.Entries[0].Name != "genuine" {
		t.Fatalf("reply = %+v, want the genuine one", r)
	}
	// The second genuine reply arrives after AskAgent returned.
	if got := f.s.Stats().Rejected.Load() - before; got != 4 {
		t.Errorf("rejected %d replies, want 4 (foreign host, unknown request, other op, second answer); by reason %v",
			got, f.s.Stats().RejectedBy())
	}
}

// TestAskAgentOfflineAtOnce: an offline host is refused before anything
// is published, with host_offline.
func TestAskAgentOfflineAtOnce(t *testing.T) {
	f := newAskFixture(t)
	f.s.Presence().Disconnected(f.a, 1)
	_, err := f.s.AskAgent(t.Context(), f.viewer, f.a, lsQuery())
	if server.ErrorCodeOf(err) != server.CodeHostOffline {
		t.Fatalf("err = %v, want host_offline", err)
	}
	if n := len(f.pub.On(topics.QueryTopic(f.a))); n != 0 {
		t.Errorf("%d queries published to an offline host", n)
	}
	if _, err := f.s.AskAgent(t.Context(), f.viewer, "h_nosuchhostatall", lsQuery()); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Errorf("unknown host: err = %v, want not_found", err)
	}
}

// TestAskAgentTimeout: no reply within the timeout (plus the grace) is
// agent_timeout, and the request is forgotten (its late reply dropped).
func TestAskAgentTimeout(t *testing.T) {
	f := newAskFixture(t)
	server.SetQueryReplyGrace(f.s, time.Millisecond)
	var asked *topics.Query
	f.onQuery(func(q *topics.Query) { asked = q })
	q := lsQuery()
	q.TimeoutMS = 1
	_, err := f.s.AskAgent(t.Context(), f.viewer, f.a, q)
	if server.ErrorCodeOf(err) != server.CodeAgentTimeout {
		t.Fatalf("err = %v, want agent_timeout", err)
	}
	before := f.s.Stats().Rejected.Load()
	f.reply(t, f.a, treeReply(asked, "late"))
	if f.s.Stats().Rejected.Load() != before+1 {
		t.Error("a reply after the timeout was not dropped")
	}
}

// TestAskAgentRefusals: the agent's error kinds become the domain's codes
// with the agent's sentence; invalid queries and missing permission are
// refused before anything is sent; the bound per host holds.
func TestAskAgentRefusals(t *testing.T) {
	f := newAskFixture(t)
	kinds := map[string]server.ErrorCode{
		topics.ReplyErrNotFound: server.CodeNotFound, topics.ReplyErrBusy: server.CodeUnavailable,
		topics.ReplyErrTimeout: server.CodeAgentTimeout, topics.ReplyErrUnsupported: server.CodeAgentFailed,
		topics.ReplyErrFailed: server.CodeAgentFailed,
	}
	for kind, code := range kinds {
		f.onQuery(func(q *topics.Query) {
			f.reply(t, f.a, &topics.Reply{Request: q.ID, Op: q.Op, Error: "No folder /srv in this snapshot.", ErrorKind: kind})
		})
		r, err := f.s.AskAgent(t.Context(), f.viewer, f.a, lsQuery())
		if server.ErrorCodeOf(err) != code || !strings.Contains(server.PublicMessage(err), "No folder /srv") || r == nil {
			t.Errorf("%s: err = %v (%s), reply %v; want %s with the agent's sentence", kind, err, server.ErrorCodeOf(err), r, code)
		}
	}
	f.onQuery(nil)
	bad := lsQuery()
	bad.Path = "relative"
	if _, err := f.s.AskAgent(t.Context(), f.viewer, f.a, bad); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Errorf("relative path: err = %v, want invalid", err)
	}
	unknownOp := topics.Query{Op: "dump-everything", TimeoutMS: 1000}
	if _, err := f.s.AskAgent(t.Context(), f.viewer, f.a, unknownOp); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Errorf("an op without a read permission asked by a viewer: err = %v, want forbidden", err)
	}
	if n := len(f.pub.On(topics.QueryTopic(f.a))); n != len(kinds) {
		t.Errorf("%d queries published, want %d (refusals publish nothing)", n, len(kinds))
	}

	// The per-host bound: MaxQueriesPerHost wait, the next is refused.
	release := make(chan struct{})
	var wg sync.WaitGroup
	var waiting sync.WaitGroup
	waiting.Add(server.MaxQueriesPerHost)
	f.onQuery(func(q *topics.Query) { waiting.Done() })
	for range server.MaxQueriesPerHost {
		wg.Go(func() {
			ctx, cancel := contextUntil(t, release)
			defer cancel()
			_, _ = f.s.AskAgent(ctx, f.viewer, f.a, lsQuery())
		})
	}
	waiting.Wait()
	_, err := f.s.AskAgent(t.Context(), f.viewer, f.a, lsQuery())
	var e *server.Error
	if !errors.As(err, &e) || e.Code != server.CodeUnavailable || e.RetryAfter == 0 {
		t.Errorf("query beyond the per-host bound: err = %v, want unavailable with Retry-After", err)
	}
	close(release)
	wg.Wait()
}

// contextUntil is a context canceled when release is closed.
func contextUntil(t *testing.T, release <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		select {
		case <-release:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
