package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// Presence timings of the routing test's replicas: a heartbeat every
// routingHeartbeat, a host silent for routingOfflineAfter swept offline.
const (
	routingHeartbeat    = 250 * time.Millisecond
	routingOfflineAfter = 3 * time.Second
)

// TestReplicasSeeAgentTraffic: with two replicas on one PostgreSQL and one
// Mosquitto, what each replica keeps in memory comes to both, whichever of
// them the share group hands a message: a heartbeating host stays online
// on both through more than one silence period (each replica sweeps its
// own view), and on both again once one of them restarted, its Will takes
// it offline on both (not their sweeps), both
// APIs show the same live progress of a running job, and a snapshot
// browsed through either replica's API gets its answer every time (the
// agent's reply reaches the replica that asked).
func TestReplicasSeeAgentTraffic(t *testing.T) {
	t.Parallel()
	var logs [2]lockedBuffer
	rs := startReplicas(t, 2, func(i int, m *Main) {
		m.ServiceOptions.Presence.OfflineAfter = routingOfflineAfter
		m.ServiceOptions.Presence.SweepEvery = 100 * time.Millisecond
		m.Logger = slog.New(slog.NewTextHandler(&logs[i], nil))
	})
	online := func(i int, host string) bool {
		var h hostJSON
		if code := rs.api(i).do("GET", "/api/v1/hosts/"+host, nil, &h); code != http.StatusOK {
			t.Fatalf("host %s through replica %d: HTTP %d", host, i, code)
		}
		return h.Online
	}
	onBoth := func(what, host string, want bool) {
		t.Helper()
		waitFor(t, what, 20*time.Second, func() bool { return online(0, host) == want && online(1, host) == want })
	}

	// Presence: a host with a real Will, whose connection the test can cut.
	will := connectWithWill(t, rs)
	will.publish(topics.HelloTopic(will.id), &topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, will.id),
		AgentVersion: "1.0.0", OS: "linux", Arch: "amd64", BootID: "boot", ConnGen: will.gen})
	onBoth("the hello to bring the host online on both replicas", will.id, true)
	stopBeats := heartbeat(will.c, will.id, will.gen, routingHeartbeat)
	stayOnline := func(replicas []int, d time.Duration) {
		t.Helper()
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			for _, i := range replicas {
				if !online(i, will.id) {
					t.Fatalf("a heartbeating host is offline on replica %d (its sweep saw only the share group's half of the heartbeats?)\n%s", i, logs[i].String())
				}
			}
		}
	}
	stayOnline([]int{0, 1}, 2*routingOfflineAfter+routingOfflineAfter/4)
	// Replica 1 stops and comes back: replica 0 alone keeps the host, and
	// replica 1 takes the stored presence over (the host stayed connected
	// to the broker) and follows the heartbeats again.
	rs.stop(1)
	stayOnline([]int{0}, routingOfflineAfter/2)
	rs.start(1)
	stayOnline([]int{0, 1}, routingOfflineAfter+routingOfflineAfter/4)
	stopBeats()
	will.cut()
	onBoth("the Will to take the host offline on both replicas", will.id, false)
	for i := range 2 {
		for _, line := range strings.Split(logs[i].String(), "\n") {
			if strings.Contains(line, "host silent") && strings.Contains(line, will.id) {
				t.Fatalf("replica %d swept the host offline instead of hearing its Will: %s", i, line)
			}
		}
	}

	// Live progress: one host, a running job, each progress message sent
	// once (at QoS 1 here, so that the test does not depend on a QoS 0
	// message arriving: the agent sends QoS 0).
	h := rs.enrollHost("mover")
	h.hello()
	// It heartbeats as an agent does: the replicas sweep a host silent for
	// routingOfflineAfter offline, and a step below can take longer than
	// that on a loaded machine (a browse then got HTTP 409, host offline).
	defer heartbeat(h.c, h.id, h.connGen, routingHeartbeat)()
	onBoth("the second host online on both replicas", h.id, true)
	if code := rs.api(0).do("PUT", "/api/v1/hosts/"+h.id+"/repository",
		map[string]any{"url": filepath.Join(t.TempDir(), "repo"), "password": "pw"}, nil); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("set repository through replica 0: HTTP %d", code)
	}
	var list struct {
		Jobs []jobJSON `json:"jobs"`
	}
	if code := rs.api(1).do("GET", "/api/v1/jobs?host="+h.id, nil, &list); code != http.StatusOK || len(list.Jobs) != 1 {
		t.Fatalf("the init job through replica 1: HTTP %d %+v", code, list)
	}
	job := list.Jobs[0]
	cmd := h.command(job.UID, 20*time.Second)
	h.reportUntilAcked(job.UID, cmd.Version+1, topics.JobDelivered, 2*time.Second, 30*time.Second)
	h.reportUntilAcked(job.UID, cmd.Version+2, topics.JobRunning, 2*time.Second, 30*time.Second)
	percentOn := func(i int) float64 {
		var j struct {
			Status   string `json:"status"`
			Progress *struct {
				Percent float64 `json:"percent"`
			} `json:"progress"`
		}
		if code := rs.api(i).do("GET", fmt.Sprintf("/api/v1/jobs/%d", job.ID), nil, &j); code != http.StatusOK || j.Progress == nil {
			return -1
		}
		return j.Progress.Percent
	}
	for _, pct := range []float64{42, 77} {
		h.publish(topics.JobProgressTopic(h.id, job.UID), &topics.JobProgress{Envelope: topics.NewEnvelope(topics.TypeJobProgress, h.id),
			Job: job.UID, Percent: pct, FilesDone: 3, FilesTotal: 10, ETASeconds: -1, ElapsedSeconds: 2})
		waitFor(t, fmt.Sprintf("%v %% on both replicas' API", pct), 20*time.Second, func() bool {
			return percentOn(0) == pct && percentOn(1) == pct
		})
	}

	// Browsing: the host answers every query; each of several asks through
	// each replica gets its answer.
	var asked sync.Map
	answer := func(_ paho.Client, m paho.Message) {
		var q topics.Query
		if err := topics.Decode(m.Payload(), &q); err != nil {
			t.Errorf("the host got an invalid query: %v", err)
			return
		}
		asked.Store(q.ID, true)
		reply, err := topics.Encode(&topics.Reply{Envelope: topics.NewEnvelope(topics.TypeReply, h.id), Request: q.ID, Op: q.Op,
			Tree: &topics.TreePage{Path: q.Path, PageSize: topics.TreePageSize, Total: 1, Entries: []topics.TreeEntry{{Name: "etc", Type: "dir"}}}})
		if err != nil {
			t.Errorf("encode the reply: %v", err)
			return
		}
		// Not waited for here: this runs on the client's delivery goroutine.
		h.c.Publish(topics.ReplyTopic(h.id), 1, false, reply)
	}
	if tok := h.c.Subscribe(topics.QueryTopic(h.id), 1, answer); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe to the queries: %v", tok.Error())
	}
	const asks = 4
	for i := range 2 {
		for n := range asks {
			var page topics.TreePage
			code := rs.api(i).do("GET", "/api/v1/hosts/"+h.id+"/snapshots/latest/tree?path=/", nil, &page)
			if code != http.StatusOK || len(page.Entries) != 1 || page.Entries[0].Name != "etc" {
				t.Fatalf("browse %d through replica %d: HTTP %d %+v\nmosquitto:\n%s", n+1, i, code, page, rs.broker.Log())
			}
		}
	}
	n := 0
	asked.Range(func(any, any) bool { n++; return true })
	if n != 2*asks {
		t.Fatalf("the host answered %d distinct queries, want %d", n, 2*asks)
	}
}

// willHost is an enrolled host's MQTT connection that registered a Will,
// as the agent does, and that the test can cut without a DISCONNECT.
type willHost struct {
	t   *testing.T
	id  string
	gen uint64
	c   paho.Client

	mu   sync.Mutex
	conn net.Conn
}

// connectWithWill enrolls a host through replica 0 and connects it on
// connection generation 1 with its Will: status offline.
func connectWithWill(t *testing.T, rs *replicaSet) *willHost {
	t.Helper()
	svc := rs.m[0].Service()
	tok, _, err := svc.CreateEnrollmentToken(t.Context(), server.CLIActor(), "will", 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Enroll(t.Context(), server.EnrollRequest{Token: tok, Hostname: "will", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	w := &willHost{t: t, id: res.HostID, gen: 1}
	lastWill, err := topics.Encode(&topics.Status{Envelope: topics.NewEnvelope(topics.TypeStatus, w.id), State: topics.StateOffline,
		BootID: "boot", ConnGen: w.gen})
	if err != nil {
		t.Fatal(err)
	}
	opts := mqttOptions(rs.broker.URL.Host, w.id, res.MQTTPassword).SetBinaryWill(topics.StatusTopic(w.id), lastWill, 1, false).
		SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			c, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
			w.mu.Lock()
			w.conn = c
			w.mu.Unlock()
			return c, err
		})
	w.c = paho.NewClient(opts)
	if tok := w.c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("connect as %s: %v", w.id, tok.Error())
	}
	t.Cleanup(func() { w.c.Disconnect(0) })
	return w
}

func (w *willHost) publish(topic string, m topics.Payload) {
	w.t.Helper()
	b, err := topics.Encode(m)
	if err != nil {
		w.t.Fatal(err)
	}
	if tok := w.c.Publish(topic, 1, false, b); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		w.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// heartbeat sends status online every interval until the returned func is
// called, which returns once the last heartbeat is out.
// heartbeat sends the host's status heartbeat every interval, as the
// agent does, until stop is called.
func heartbeat(c paho.Client, id string, gen uint64, interval time.Duration) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			b, _ := topics.Encode(&topics.Status{Envelope: topics.NewEnvelope(topics.TypeStatus, id), State: topics.StateOnline,
				BootID: "boot", ConnGen: gen})
			c.Publish(topics.StatusTopic(id), 0, false, b).WaitTimeout(5 * time.Second)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// cut closes the connection under the client, as a crash or a pulled
// cable would: no DISCONNECT, so the broker publishes the Will.
func (w *willHost) cut() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn != nil {
		w.conn.Close()
	}
}
