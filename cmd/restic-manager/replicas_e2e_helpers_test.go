package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/broker/mosquitto/mosquittotest"
	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// The two-replica harness (#15, docs/replicas.md): real `serve` replicas
// (in-process Mains) on one PostgreSQL database of servertest's private
// cluster and one real Mosquitto, each with its own --broker-client-id and
// web listener, sharing one data directory (the master key and the CA, as
// replicas behind one load balancer share them).
//
//	rs := startReplicas(t, 2)          // both serving; rs.m[i] is replica i
//	rs.api(1).do("GET", "/api/v1/hosts", nil, &out)
//	h := rs.enrollHost("web-1")        // a host whose agent is a paho client
//	h.hello(); rs.waitOnline(1, h.id)
//	rs.stop(0); rs.start(0)            // a replica leaves and comes back
//	i := rs.waitLeader(10*time.Second) // the replica running the singleton work
//
// Replicas take the leader lease within replicaLeaderRetry.

// replicaLeaderRetry is the replicas' ClusterOptions.LeaderRetry: how soon
// a replica takes the lease after the leader is gone.
const replicaLeaderRetry = 300 * time.Millisecond

// replicaSet is n replicas on one store and one broker.
type replicaSet struct {
	t       *testing.T
	dataDir string
	dbURL   string
	broker  *mosquittotest.Broker
	token   string  // an API token of admin, valid on every replica
	m       []*Main // replica i, nil while stopped
	// tweak, if set, changes replica i's Main before each start.
	tweak func(i int, m *Main)
}

// startReplicas starts n replicas, one after the other (the first start
// makes the master key, the CA and the admin). tweak, if any, changes a
// replica's Main before every start (its Logger, ServiceOptions, …).
func startReplicas(t *testing.T, n int, tweak ...func(i int, m *Main)) *replicaSet {
	t.Helper()
	rs := &replicaSet{t: t, dataDir: filepath.Join(t.TempDir(), "data"), dbURL: servertest.PostgresURL(t),
		broker: mosquittotest.Start(t), m: make([]*Main, n)}
	if len(tweak) > 0 {
		rs.tweak = tweak[0]
	}
	if err := os.MkdirAll(rs.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		rs.start(i)
	}
	u, err := rs.m[0].Service().UserByName(t.Context(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	if rs.token, err = rs.m[0].Service().CreateAPIToken(t.Context(), server.CLIActor(), u.Name, "replicas"); err != nil {
		t.Fatal(err)
	}
	return rs
}

// start starts replica i (again).
func (rs *replicaSet) start(i int) *Main {
	rs.t.Helper()
	if rs.m[i] != nil {
		rs.t.Fatalf("replica %d is running", i)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("replica", i)
	}
	m := &Main{DataDir: rs.dataDir, HTTPAddr: "127.0.0.1:0", Logger: logger, Stdout: io.Discard, AdminPassword: "admin password for tests",
		BrokerURL: rs.broker.URL, BrokerUser: mosquittotest.AdminUser, BrokerPassword: rs.broker.AdminPassword,
		BrokerClientID: fmt.Sprintf("rm-replica-%d", i)}
	m.ServiceOptions.Database = rs.dbURL
	m.ServiceOptions.PasswordHashCost = servertest.CheapPasswordHash()
	m.ServiceOptions.Cluster.LeaderRetry = replicaLeaderRetry
	if rs.tweak != nil {
		rs.tweak(i, m)
	}
	if err := m.Run(rs.t.Context()); err != nil {
		rs.t.Fatalf("start replica %d: %v", i, err)
	}
	rs.m[i] = m
	rs.t.Cleanup(func() {
		if rs.m[i] == m {
			rs.stop(i)
		}
	})
	return m
}

// stop stops replica i as serve does on SIGTERM: listeners, the broker
// connection, then the background work (the ingest writer stores what it
// holds, with no broker left to ack it) and the store.
func (rs *replicaSet) stop(i int) {
	rs.t.Helper()
	if rs.m[i] == nil {
		return
	}
	if err := rs.m[i].Close(); err != nil {
		rs.t.Logf("stop replica %d: %v", i, err)
	}
	rs.m[i] = nil
}

// leaders is the running replicas that hold the leader lease now.
func (rs *replicaSet) leaders() []int {
	var out []int
	for i, m := range rs.m {
		if m != nil && m.Service().Leading() {
			out = append(out, i)
		}
	}
	return out
}

// waitLeader waits until exactly one running replica leads and returns it.
func (rs *replicaSet) waitLeader(timeout time.Duration) int {
	rs.t.Helper()
	var l []int
	waitFor(rs.t, "one leader among the replicas", timeout, func() bool { l = rs.leaders(); return len(l) == 1 })
	return l[0]
}

// api is an API client of replica i, as admin.
func (rs *replicaSet) api(i int) apiClient {
	return apiClient{t: rs.t, base: rs.m[i].HTTPURL(), token: rs.token}
}

// waitOnline waits until replica i's API shows host online: the replica
// dispatches a new job to a host it knows online (the job is sent again
// at the host's next hello otherwise).
func (rs *replicaSet) waitOnline(i int, host string) {
	rs.t.Helper()
	waitFor(rs.t, fmt.Sprintf("host %s online on replica %d", host, i), 20*time.Second, func() bool {
		var h hostJSON
		return rs.api(i).do("GET", "/api/v1/hosts/"+host, nil, &h) == http.StatusOK && h.Online
	})
}

// sseStream is an open /events stream: what it received, as
// "event: name\ndata: …" blocks.
type sseStream struct {
	mu     sync.Mutex
	events []string
}

// openEvents opens path (/events?…) on replica i with a session of admin
// and returns once the stream says it is connected.
func (rs *replicaSet) openEvents(i int, path string) *sseStream {
	rs.t.Helper()
	svc := rs.m[i].Service()
	u, err := svc.UserByName(rs.t.Context(), "admin")
	if err != nil {
		rs.t.Fatal(err)
	}
	cookie, _, err := svc.CreateSession(rs.t.Context(), u, "127.0.0.1", "replicas test")
	if err != nil {
		rs.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rs.m[i].HTTPURL()+path, nil)
	req.AddCookie(&http.Cookie{Name: "rm_session", Value: cookie})
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		rs.t.Fatalf("open %s on replica %d: %v %v", path, i, err, res)
	}
	s := &sseStream{}
	connected := make(chan struct{})
	go func() {
		defer res.Body.Close()
		r := bufio.NewReader(res.Body)
		var block strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch {
			case line == ": connected\n":
				close(connected)
			case line == "\n":
				if block.Len() > 0 {
					s.mu.Lock()
					s.events = append(s.events, block.String())
					s.mu.Unlock()
					block.Reset()
				}
			case !strings.HasPrefix(line, ":"):
				block.WriteString(line)
			}
		}
	}()
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		rs.t.Fatalf("the stream %s on replica %d never said it was connected", path, i)
	}
	return s
}

// has reports whether a received event is named event and its data holds
// every one of data.
func (s *sseStream) has(event string, data ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		if !strings.HasPrefix(e, "event: "+event+"\n") {
			continue
		}
		all := true
		for _, d := range data {
			all = all && strings.Contains(e, d)
		}
		if all {
			return true
		}
	}
	return false
}

// String is everything received, for failure messages.
func (s *sseStream) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.events, "\n")
}

// fakeHost is an enrolled host whose agent is a paho client on the
// broker: it says what the test tells it to and records the commands and
// acks the replicas send it. It has no outbox of its own: publishUntilAcked
// is the agent's resend of what was not acknowledged.
type fakeHost struct {
	t        *testing.T
	id, name string
	c        paho.Client
	connGen  uint64

	mu       sync.Mutex
	seq      uint64
	commands []topics.Command
	acked    map[uint64]bool
}

// enrollHost enrolls a host through replica 0 (provisioned in Mosquitto)
// and connects its agent: subscribed to its commands and acks, no hello yet.
func (rs *replicaSet) enrollHost(name string) *fakeHost {
	rs.t.Helper()
	svc := rs.m[0].Service()
	tok, _, err := svc.CreateEnrollmentToken(rs.t.Context(), server.CLIActor(), name, 0)
	if err != nil {
		rs.t.Fatal(err)
	}
	res, err := svc.Enroll(rs.t.Context(), server.EnrollRequest{Token: tok, Hostname: name, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		rs.t.Fatal(err)
	}
	h := &fakeHost{t: rs.t, id: res.HostID, name: name, acked: map[uint64]bool{}, connGen: 1}
	h.c = mqttClient(rs.t, rs.broker.URL.Host, res.HostID, res.MQTTPassword)
	for topic, handle := range map[string]func([]byte){
		topics.CmdTopic(h.id): func(b []byte) {
			var c topics.Command
			if json.Unmarshal(b, &c) == nil {
				h.mu.Lock()
				h.commands = append(h.commands, c)
				h.mu.Unlock()
			}
		},
		topics.AckTopic(h.id): func(b []byte) {
			var a topics.Ack
			if json.Unmarshal(b, &a) == nil {
				h.mu.Lock()
				for _, s := range a.Seqs {
					h.acked[s] = true
				}
				h.mu.Unlock()
			}
		},
	} {
		if tok := h.c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { handle(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			rs.t.Fatalf("subscribe %s: %v", topic, tok.Error())
		}
	}
	return h
}

// publish sends m on topic at QoS 1.
func (h *fakeHost) publish(topic string, m any) {
	h.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		h.t.Fatal(err)
	}
	if tok := h.c.Publish(topic, 1, false, b); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		h.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// hello says hello: the host is online at whichever replica takes it.
func (h *fakeHost) hello() {
	h.t.Helper()
	h.publish(topics.HelloTopic(h.id), &topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, h.id), AgentVersion: "1.0.0",
		OS: "linux", Arch: "amd64", Hostname: h.name, BootID: "boot", ConnGen: h.connGen})
}

// command waits for the run command of a job (by its UID) and returns it.
func (h *fakeHost) command(uid string, timeout time.Duration) topics.Command {
	h.t.Helper()
	var c topics.Command
	waitFor(h.t, "the run command of job "+uid, timeout, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, x := range h.commands {
			if x.Job == uid && x.Action == topics.CmdRun {
				c = x
				return true
			}
		}
		return false
	})
	return c
}

// jobEvent reports job uid in state at version (with restic's exit code
// for a terminal state: 0, 3 for a warning, else 1) and returns its outbox
// sequence; it is not resent.
func (h *fakeHost) jobEvent(uid string, version int64, state topics.JobState) uint64 {
	h.t.Helper()
	h.mu.Lock()
	h.seq++
	seq := h.seq
	h.mu.Unlock()
	h.sendJobEvent(seq, uid, version, state)
	return seq
}

func (h *fakeHost) sendJobEvent(seq uint64, uid string, version int64, state topics.JobState) {
	h.t.Helper()
	e := &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, h.id), Seq: seq, Job: uid, Version: version,
		State: state, At: time.Now().UTC()}
	if state.Terminal() {
		code := map[topics.JobState]int{topics.JobSucceeded: 0, topics.JobWarning: 3}[state]
		if code == 0 && state != topics.JobSucceeded {
			code = 1
		}
		e.Result = &topics.JobResult{ExitCode: &code}
	}
	h.publish(topics.JobEventTopic(h.id, uid), e)
}

// reportUntilAcked reports a job event as the agent's outbox does: sent,
// and sent again every resendEvery until a replica acknowledges it (or
// timeout, which fails the test).
func (h *fakeHost) reportUntilAcked(uid string, version int64, state topics.JobState, resendEvery, timeout time.Duration) uint64 {
	h.t.Helper()
	seq := h.jobEvent(uid, version, state)
	deadline := time.Now().Add(timeout)
	for last := time.Now(); !h.isAcked(seq); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			h.t.Fatalf("job %s's %s event (seq %d) never acknowledged in %s", uid, state, seq, timeout)
		}
		if time.Since(last) >= resendEvery {
			h.sendJobEvent(seq, uid, version, state)
			last = time.Now()
		}
	}
	return seq
}

// isAcked reports whether a replica acknowledged outbox sequence seq.
func (h *fakeHost) isAcked(seq uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.acked[seq]
}
