package server_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// receivedRequest is one request a loopback receiver got.
type receivedRequest struct {
	Path   string
	Header http.Header
	Body   []byte
}

// receiver is a real HTTP server on 127.0.0.1 recording what it gets; while
// down it answers 503.
type receiver struct {
	srv  *httptest.Server
	down atomic.Bool
	mu   sync.Mutex
	got  []receivedRequest
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// newReceiverOn starts a receiver on a given loopback address (one that
// was closed before: the receiver "comes back").
func newReceiverOn(t *testing.T, addr string) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.srv.Listener.Close()
	r.srv.Listener = ln
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	if r.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, receivedRequest{Path: req.URL.Path, Header: req.Header.Clone(), Body: b})
	r.mu.Unlock()
}

func (r *receiver) requests() []receivedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedRequest(nil), r.got...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitRequests waits until the receiver holds at least n requests.
func (r *receiver) waitRequests(t *testing.T, n int) []receivedRequest {
	t.Helper()
	waitFor(t, "the receiver's requests", func() bool { return len(r.requests()) >= n })
	return r.requests()
}

func decodePayload(t *testing.T, b []byte) server.NotificationPayload {
	t.Helper()
	var p server.NotificationPayload
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("payload %q: %v", b, err)
	}
	return p
}

// notifyHost is an enrolled host with a ready repository and its agent.
type notifyHost struct {
	id    string
	agent *servertest.HostAgent
}

// readyHost enrolls a host, tags it, sets its repository and finishes the init job.
func (f *jobsFixture) readyHost(t *testing.T, name string, conn uint64, tags ...string) notifyHost {
	t.Helper()
	id := enrollTestHost(t, f.s, name)
	a := servertest.NewHostAgent(f.s, id)
	a.Conn = conn
	if len(tags) > 0 {
		if _, err := f.s.SetHostTags(t.Context(), f.admin, id, tags); err != nil {
			t.Fatal(err)
		}
	}
	j, err := f.s.SetRepository(t.Context(), f.admin, id, server.RepositoryInput{URL: "/srv/restic/" + name, Password: testRepoPassword})
	if err != nil {
		t.Fatal(err)
	}
	a.Connect(t, 1)
	walkJob(t, a, j.UID, topics.JobSucceeded, &topics.JobResult{AlreadyInitialized: true})
	return notifyHost{id: id, agent: a}
}

// runBackup queues a backup on h and walks it to state.
func (f *jobsFixture) runBackup(t *testing.T, h notifyHost, state topics.JobState, res *topics.JobResult) int64 {
	t.Helper()
	j, err := f.s.CreateJob(t.Context(), f.operator, h.id, server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"/etc"}}})
	if err != nil {
		t.Fatal(err)
	}
	walkJob(t, h.agent, j.UID, state, res)
	return j.ID
}

func walkJob(t *testing.T, a *servertest.HostAgent, uid string, state topics.JobState, res *topics.JobResult) {
	t.Helper()
	a.Event(t, uid, 2, topics.JobDelivered, nil)
	a.Event(t, uid, 3, topics.JobRunning, nil)
	a.Event(t, uid, 4, state, res)
	a.Sync(t)
}

func failedResult() *topics.JobResult {
	return &topics.JobResult{ExitCode: intp(1), Reason: "restic failed", Detail: "Fatal: unable to open repository"}
}

func succeededResult() *topics.JobResult {
	return &topics.JobResult{ExitCode: intp(0), SnapshotID: testSnapshotID}
}

// deliveries lists a channel's deliveries, newest first.
func (f *jobsFixture) deliveries(t *testing.T, channel int64) []server.NotificationDelivery {
	t.Helper()
	d, err := f.s.ListNotificationDeliveries(t.Context(), f.admin, server.DeliveryFilter{ChannelID: channel})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (f *jobsFixture) channel(t *testing.T, c server.NotificationChannel) *server.NotificationChannel {
	t.Helper()
	c.Enabled = true
	out, err := f.s.CreateNotificationChannel(t.Context(), f.admin, c)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func strp(s string) *string { return &s }

func hasEvent(ds []server.NotificationDelivery, event string) bool {
	for _, d := range ds {
		if d.Event == event {
			return true
		}
	}
	return false
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
