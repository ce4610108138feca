package web

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// Secrets the job tests set on repositories; no page or API answer may
// ever contain them.
const (
	testRepoPassword = "hunter2-repo-secret"
	testEnvSecret    = "aws-secret-value-9f8e"
	testURLSecret    = "urlpass-77c1"
)

// runService starts the Service's background work (the ingest writer that
// stores agent messages) for the test's lifetime.
func (a *testApp) runService() {
	a.t.Helper()
	a.runOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { a.svc.Run(ctx) })
		a.t.Cleanup(func() {
			cancel()
			wg.Wait()
		})
	})
}

// fakeAgent plays a host's agent: it reports job states, log lines and
// progress through the server's real ingest path (HandleMessage), as the
// broker would deliver them.
type fakeAgent struct {
	t      testing.TB
	app    *testApp
	hostID string
	name   string
	seq    uint64
}

// readyHost enrolls a host, brings it online and gives it a repository
// whose init job succeeded, so every kind of job may run on it.
func (a *testApp) readyHost(name string) *fakeAgent {
	a.t.Helper()
	f := a.onlineHost(name)
	job, err := a.svc.SetRepository(a.t.Context(), server.CLIActor(), f.hostID, server.RepositoryInput{
		URL: "s3:https://backup:" + testURLSecret + "@s3.example.test/bucket/" + name, Password: testRepoPassword,
		Env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": testEnvSecret},
	})
	if err != nil {
		a.t.Fatal(err)
	}
	f.finish(job, topics.JobSucceeded, &topics.JobResult{RepositoryID: "0123456789abcdef0123456789abcdef"})
	return f
}

// onlineHost enrolls a host and connects it, without a repository.
func (a *testApp) onlineHost(name string) *fakeAgent {
	a.t.Helper()
	a.runService()
	res := a.enrollHost(name)
	a.svc.Presence().Connected(res.HostID, 1, "192.0.2.10:4000")
	return &fakeAgent{t: a.t, app: a, hostID: res.HostID, name: name}
}

// send delivers one message as the host and waits until it is stored.
func (f *fakeAgent) send(topic string, p topics.Payload) {
	f.t.Helper()
	b, err := topics.Encode(p)
	if err != nil {
		f.t.Fatal(err)
	}
	f.app.svc.HandleMessage(topic, b, f.hostID, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.app.svc.SyncIngest(ctx); err != nil {
		f.t.Fatal(err)
	}
}

// job re-reads a job.
func (f *fakeAgent) job(id int64) *server.Job {
	f.t.Helper()
	j, err := f.app.svc.GetJob(f.t.Context(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return j
}

// state reports the job's next state.
func (f *fakeAgent) state(j *server.Job, st topics.JobState, res *topics.JobResult) *server.Job {
	f.t.Helper()
	cur := f.job(j.ID)
	f.seq++
	ev := &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, f.hostID), Seq: f.seq, Job: cur.UID,
		Version: cur.Version + 1, State: st, At: time.Now().UTC(), Result: res}
	f.send(topics.JobEventTopic(f.hostID, cur.UID), ev)
	got := f.job(j.ID)
	if got.Status != st {
		f.t.Fatalf("job %d is %s after reporting %s", j.ID, got.Status, st)
	}
	return got
}

// start moves a queued job to running.
func (f *fakeAgent) start(j *server.Job) *server.Job {
	f.t.Helper()
	if f.job(j.ID).Status == topics.JobQueued {
		f.state(j, topics.JobDelivered, nil)
	}
	return f.state(j, topics.JobRunning, nil)
}

// finish runs the job to a terminal state with res (which gets the exit
// code and line count when it has none).
func (f *fakeAgent) finish(j *server.Job, st topics.JobState, res *topics.JobResult) *server.Job {
	f.t.Helper()
	if f.job(j.ID).Status != topics.JobRunning {
		f.start(j)
	}
	if res == nil {
		res = &topics.JobResult{}
	}
	if res.ExitCode == nil {
		code := map[topics.JobState]int{topics.JobSucceeded: 0, topics.JobWarning: 3, topics.JobFailed: 1, topics.JobCanceled: 130}[st]
		res.ExitCode = &code
	}
	if res.LogLines == 0 {
		res.LogLines = uint64(f.job(j.ID).LogLines)
	}
	return f.state(j, st, res)
}

// logLines reports lines numbered from first.
func (f *fakeAgent) logLines(j *server.Job, first uint64, texts ...string) {
	f.t.Helper()
	f.seq++
	m := &topics.JobLog{Envelope: topics.NewEnvelope(topics.TypeJobLog, f.hostID), Seq: f.seq, Job: f.job(j.ID).UID, First: first}
	for _, s := range texts {
		m.Lines = append(m.Lines, topics.LogLine{T: time.Now().UTC(), Stream: topics.StreamStdout, Text: s})
	}
	f.send(topics.JobLogTopic(f.hostID, m.Job), m)
}

// progress reports live progress.
func (f *fakeAgent) progress(j *server.Job, percent float64, filesDone, filesTotal uint64) {
	f.t.Helper()
	m := &topics.JobProgress{Envelope: topics.NewEnvelope(topics.TypeJobProgress, f.hostID), Job: f.job(j.ID).UID,
		Percent: percent, FilesDone: filesDone, FilesTotal: filesTotal, BytesDone: 3 << 20, BytesTotal: 10 << 20,
		ETASeconds: 95, ElapsedSeconds: 20, CurrentFile: "/home/ann/report.odt"}
	b, err := topics.Encode(m)
	if err != nil {
		f.t.Fatal(err)
	}
	f.app.svc.HandleMessage(topics.JobProgressTopic(f.hostID, m.Job), b, f.hostID, 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p, ok := f.app.svc.JobProgress(j.ID); ok && p.Percent == percent {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("progress %v%% of job %d never showed", percent, j.ID)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// queue creates a job on the host as the CLI would.
func (f *fakeAgent) queue(spec topics.JobSpec) *server.Job {
	f.t.Helper()
	j, err := f.app.svc.CreateJob(f.t.Context(), server.CLIActor(), f.hostID, server.JobRequest{Spec: spec})
	if err != nil {
		f.t.Fatal(err)
	}
	return j
}

// backup queues a backup of /etc.
func (f *fakeAgent) backup() *server.Job {
	return f.queue(topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"/etc"}})
}

// countJobs is how many jobs the host has.
func (f *fakeAgent) countJobs() int {
	f.t.Helper()
	jobs, err := f.app.svc.ListJobs(f.t.Context(), server.JobFilter{HostID: f.hostID, Limit: 500})
	if err != nil {
		f.t.Fatal(err)
	}
	return len(jobs)
}

func jobPath(id int64) string { return fmt.Sprintf("/jobs/%d", id) }

// reportSnapshots reports a list of n snapshots (of /etc and /home, one a
// day, the newest an hour ago) and returns the ids of the oldest and the
// newest.
func (f *fakeAgent) reportSnapshots(n int) (oldest, newest string) {
	f.t.Helper()
	f.seq++
	m := &topics.SnapshotReport{Envelope: topics.NewEnvelope(topics.TypeSnapshots, f.hostID), Seq: f.seq,
		Report: topics.NewMessageID(), Part: 1, Parts: 1, TakenAt: time.Now().UTC()}
	for i := range n {
		id := fmt.Sprintf("%02x", i+1) + strings.Repeat("5e", 31)
		m.Snapshots = append(m.Snapshots, topics.SnapshotInfo{ID: id, Time: time.Now().Add(-time.Duration(n-i) * 24 * time.Hour).Add(23 * time.Hour).UTC(),
			Hostname: f.name, Paths: []string{"/etc", "/home"}, Tags: []string{"nightly"}, DataAdded: uint64(i+1) << 20, TotalFilesProcessed: 100})
	}
	f.send(topics.SnapshotsTopic(f.hostID), m)
	return m.Snapshots[0].ID, m.Snapshots[n-1].ID
}

// readyJob is a queued backup on a new ready host (n makes it unique).
func (a *testApp) readyJob(n int) *server.Job {
	a.t.Helper()
	return a.readyHost(fmt.Sprintf("jobs-%d", n)).backup()
}
