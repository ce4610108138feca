package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// dispatchAgent is an enrolled host whose agent is a paho client: it runs
// every command it gets as the load generator's simulated agent does
// ("delivered", "running", a log batch of 3 lines, "succeeded", and a
// snapshot report after a backup) and records when each job's command
// came, when its "delivered" went out and when the server acked it.
type dispatchAgent struct {
	tb  testing.TB
	id  string
	c   paho.Client
	seq atomic.Uint64
	rec *dispatchRecords

	mu        sync.Mutex
	delivered map[uint64]string // outbox seq of a "delivered" → job uid
	snapshots []topics.SnapshotInfo
}

// dispatchRecord is one job's times.
type dispatchRecord struct {
	posted, received, sent, acked time.Time
}

type dispatchRecords struct {
	mu   sync.Mutex
	jobs map[string]*dispatchRecord
	done chan string // job uids whose "delivered" was acked
}

func (r *dispatchRecords) at(uid string, set func(*dispatchRecord)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.jobs[uid]
	if rec == nil {
		rec = &dispatchRecord{}
		r.jobs[uid] = rec
	}
	set(rec)
}

func newDispatchAgent(b *testing.B, svc *server.Service, addr string, name string, rec *dispatchRecords) *dispatchAgent {
	b.Helper()
	res := enrollBenchHost(b, svc, name)
	a := &dispatchAgent{tb: b, id: res.HostID, rec: rec, delivered: map[uint64]string{}}
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(res.HostID).SetUsername(res.HostID).
		SetPassword(res.MQTTPassword).SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).
		SetConnectTimeout(10 * time.Second).SetOrderMatters(false)
	a.c = paho.NewClient(opts)
	if tok := a.c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		b.Fatalf("connect %s: %v", name, tok.Error())
	}
	b.Cleanup(func() { a.c.Disconnect(0) })
	subs := map[string]byte{topics.CmdTopic(a.id): 1, topics.AckTopic(a.id): 1}
	if tok := a.c.SubscribeMultiple(subs, a.handle); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe %s: %v", name, tok.Error())
	}
	a.publish(topics.HelloTopic(a.id), &topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, a.id),
		AgentVersion: "bench", OS: "linux", Arch: "amd64", Hostname: name, BootID: "boot", ConnGen: 1})
	return a
}

func (a *dispatchAgent) handle(_ paho.Client, m paho.Message) {
	now := time.Now()
	switch m.Topic() {
	case topics.CmdTopic(a.id):
		var cmd topics.Command
		if json.Unmarshal(m.Payload(), &cmd) != nil || cmd.Action != topics.CmdRun {
			return
		}
		a.rec.at(cmd.Job, func(r *dispatchRecord) { r.received = now })
		go a.run(&cmd)
	case topics.AckTopic(a.id):
		var ack topics.Ack
		if json.Unmarshal(m.Payload(), &ack) != nil {
			return
		}
		for _, seq := range ack.Seqs {
			a.mu.Lock()
			uid, ok := a.delivered[seq]
			delete(a.delivered, seq)
			a.mu.Unlock()
			if ok {
				a.rec.at(uid, func(r *dispatchRecord) { r.acked = now })
				a.rec.done <- uid
			}
		}
	}
}

func (a *dispatchAgent) publish(topic string, m any) {
	data, err := json.Marshal(m)
	if err != nil {
		a.tb.Error(err)
		return
	}
	if tok := a.c.Publish(topic, 1, false, data); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		a.tb.Errorf("publish %s: %v", topic, tok.Error())
	}
}

// run answers a run command as the load generator's agent does.
func (a *dispatchAgent) run(cmd *topics.Command) {
	event := func(v int64, state topics.JobState, res *topics.JobResult) {
		seq := a.seq.Add(1)
		if state == topics.JobDelivered {
			a.mu.Lock()
			a.delivered[seq] = cmd.Job
			a.mu.Unlock()
			a.rec.at(cmd.Job, func(r *dispatchRecord) { r.sent = time.Now() })
		}
		a.publish(topics.JobEventTopic(a.id, cmd.Job), &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, a.id),
			Seq: seq, Job: cmd.Job, Version: v, State: state, At: time.Now().UTC(), Result: res})
	}
	started := time.Now().UTC()
	event(cmd.Version+1, topics.JobDelivered, nil)
	event(cmd.Version+2, topics.JobRunning, nil)
	var lines []topics.LogLine
	for n := range 3 {
		lines = append(lines, topics.LogLine{T: time.Now().UTC(), Stream: topics.StreamStdout, Text: fmt.Sprintf("bench %s line %d", cmd.Job, n+1)})
	}
	a.publish(topics.JobLogTopic(a.id, cmd.Job), &topics.JobLog{Envelope: topics.NewEnvelope(topics.TypeJobLog, a.id),
		Seq: a.seq.Add(1), Job: cmd.Job, First: 1, Lines: lines})
	exit := 0
	res := &topics.JobResult{ExitCode: &exit, ResticVersion: "0.18.1", StartedAt: started, LogLines: 3}
	if cmd.Spec.Kind == topics.JobInit {
		res.RepositoryID = randomBenchHex()
	} else {
		res.SnapshotID = randomBenchHex()
	}
	event(cmd.Version+3, topics.JobSucceeded, res)
	if res.SnapshotID == "" {
		return
	}
	now := time.Now().UTC()
	a.mu.Lock()
	a.snapshots = append(a.snapshots, topics.SnapshotInfo{ID: res.SnapshotID, Time: now, Hostname: "bench", Username: "root",
		Paths: cmd.Spec.Paths, Tags: cmd.Spec.Tags})
	if len(a.snapshots) > 50 {
		a.snapshots = a.snapshots[len(a.snapshots)-50:]
	}
	a.mu.Unlock()
	a.reportSnapshots(now, cmd.Job)
}

// benchSnapshotHistory is how many snapshots each agent's host has before
// the benchmark's jobs: a host backed up daily keeps tens of snapshots, and
// every report after a backup names them all.
const benchSnapshotHistory = 49

// reportSnapshots sends the agent's snapshot list, taken at now.
func (a *dispatchAgent) reportSnapshots(now time.Time, job string) {
	a.mu.Lock()
	list := slices.Clone(a.snapshots)
	a.mu.Unlock()
	a.publish(topics.SnapshotsTopic(a.id), &topics.SnapshotReport{Envelope: topics.NewEnvelope(topics.TypeSnapshots, a.id),
		Seq: a.seq.Add(1), Report: topics.NewMessageID(), Part: 1, Parts: 1, TakenAt: now, Job: job, Snapshots: list})
}

// reportHistory gives the agent's host benchSnapshotHistory snapshots of
// earlier days and reports them.
func (a *dispatchAgent) reportHistory() {
	now := time.Now().UTC()
	a.mu.Lock()
	for d := benchSnapshotHistory; d > 0; d-- {
		a.snapshots = append(a.snapshots, topics.SnapshotInfo{ID: randomBenchHex(), Time: now.Add(-time.Duration(d) * 24 * time.Hour),
			Hostname: "bench", Username: "root", Paths: []string{"/srv/bench"}, Tags: []string{}})
	}
	a.mu.Unlock()
	a.reportSnapshots(now, "")
}

func randomBenchHex() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// BenchmarkDispatchStages is the load generator's dispatch scenario in one
// process (docs/scale.md): the real server (HTTP API, embedded broker,
// SQLite), 200 agents that are paho clients over plain MQTT, and 8 API
// clients posting 400 backup jobs to random hosts as fast as the API
// answers, every job then run by its agent (events, a log batch, a
// snapshot report naming the host's list: benchSnapshotHistory snapshots
// before the first job). It reports per job, p50 and p99 in ms: the POST; POST
// sent → the agent has the command ("to-agent"); the agent sent
// "delivered" → the server's ack of it, sent once it is stored ("ack");
// and POST sent → that ack ("delivered", issue #15's target: p99 ≤ 100 ms
// at 1,000 agents).
func BenchmarkDispatchStages(b *testing.B) {
	const agents, clients, jobs = 200, 8, 400
	m := startServer(b, filepath.Join(b.TempDir(), "data"), "", func(m *Main) {
		m.MQTTAddr = "127.0.0.1:0"
		m.BrokerConfig.MaxConnsPerAddrPerMinute = 1_000_000 // every agent connects from 127.0.0.1
	})
	svc := m.Service()
	ctx := context.Background()
	token, err := svc.CreateAPIToken(ctx, server.CLIActor(), "admin", "bench")
	if err != nil {
		b.Fatal(err)
	}
	api := apiClient{t: b, base: m.HTTPURL(), token: token}
	rec := &dispatchRecords{jobs: map[string]*dispatchRecord{}, done: make(chan string, jobs+agents)}
	hosts := make([]*dispatchAgent, agents)
	for i := range hosts {
		hosts[i] = newDispatchAgent(b, svc, m.broker.TCPAddr().String(), fmt.Sprintf("bench-%03d", i), rec)
	}
	waitFor(b, "every agent online", time.Minute, func() bool {
		for _, h := range hosts {
			if hh, err := svc.GetHost(ctx, h.id); err != nil || !hh.Online {
				return false
			}
		}
		return true
	})
	for i, h := range hosts {
		if _, err := svc.SetRepository(ctx, server.CLIActor(), h.id, server.RepositoryInput{URL: fmt.Sprintf("/srv/restic/bench-%03d", i), Password: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	for range hosts { // every init job delivered
		<-rec.done
	}
	for _, h := range hosts {
		h.reportHistory()
	}
	waitFor(b, "every host's snapshot history stored", time.Minute, func() bool {
		for _, h := range hosts {
			if l, err := svc.Snapshots(ctx, h.id); err != nil || len(l.Snapshots) != benchSnapshotHistory {
				return false
			}
		}
		return true
	})
	var post, toAgent, ack, delivered []time.Duration
	for b.Loop() {
		rec.mu.Lock()
		clear(rec.jobs)
		rec.mu.Unlock()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for next.Add(1) <= jobs {
					h := hosts[mrand.N(agents)]
					var j struct {
						UID string `json:"uid"`
					}
					t0 := time.Now()
					if code := api.doRaw("POST", "/api/v1/hosts/"+h.id+"/jobs", map[string]any{"kind": "backup", "paths": []string{"/srv/bench"}}, &j); code != http.StatusCreated && code != http.StatusOK {
						b.Errorf("POST job: HTTP %d", code)
						return
					}
					took := time.Since(t0)
					rec.at(j.UID, func(r *dispatchRecord) { r.posted = t0 })
					rec.mu.Lock()
					post = append(post, took)
					rec.mu.Unlock()
				}
			})
		}
		wg.Wait()
		for range jobs {
			select {
			case <-rec.done:
			case <-time.After(time.Minute):
				b.Fatal("a job's \"delivered\" was not acked within a minute")
			}
		}
		rec.mu.Lock()
		for _, r := range rec.jobs {
			toAgent = append(toAgent, r.received.Sub(r.posted))
			ack = append(ack, r.acked.Sub(r.sent))
			delivered = append(delivered, r.acked.Sub(r.posted))
		}
		rec.mu.Unlock()
	}
	for _, s := range []struct {
		name string
		d    []time.Duration
	}{{"post", post}, {"to-agent", toAgent}, {"ack", ack}, {"delivered", delivered}} {
		slices.Sort(s.d)
		b.ReportMetric(float64(s.d[len(s.d)/2].Microseconds())/1000, s.name+"-p50-ms")
		b.ReportMetric(float64(s.d[len(s.d)*99/100].Microseconds())/1000, s.name+"-p99-ms")
	}
}
