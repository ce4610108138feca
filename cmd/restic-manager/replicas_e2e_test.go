package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/broker/mosquitto/mosquittotest"
	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// TestReplicasShareEvents: with two replicas on one PostgreSQL and one
// Mosquitto, a browser's stream on replica 1 shows a job created through
// replica 0's API, dispatched to the host through the broker, and its
// completion, whichever replica ingested the host's events; the result is
// stored and acknowledged.
func TestReplicasShareEvents(t *testing.T) {
	t.Parallel()
	rs := startReplicas(t, 2)
	h := rs.enrollHost("web-1")
	h.hello()
	rs.waitOnline(0, h.id)
	jobs := rs.openEvents(1, "/events?jobs=1")

	// Setting the repository through replica 0 queues its init job.
	if code := rs.api(0).do("PUT", "/api/v1/hosts/"+h.id+"/repository",
		map[string]any{"url": filepath.Join(t.TempDir(), "repo"), "password": "pw"}, nil); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("set repository through replica 0: HTTP %d", code)
	}
	var list struct {
		Jobs []jobJSON `json:"jobs"`
	}
	waitFor(t, "the init job in replica 1's API", 10*time.Second, func() bool {
		return rs.api(1).do("GET", "/api/v1/jobs?host="+h.id, nil, &list) == http.StatusOK && len(list.Jobs) == 1
	})
	job := list.Jobs[0]
	waitFor(t, "replica 1's stream to hear of the new job", 10*time.Second, func() bool { return jobs.has("jobs-changed") })

	cmd := h.command(job.UID, 20*time.Second)
	for v, st := range []topics.JobState{topics.JobDelivered, topics.JobRunning} {
		h.jobEvent(job.UID, cmd.Version+int64(v)+1, st)
	}
	h.reportUntilAcked(job.UID, cmd.Version+3, topics.JobSucceeded, 2*time.Second, 30*time.Second)
	row := fmt.Sprintf("job-%d", job.ID)
	waitFor(t, "replica 1's stream to show the job succeeded", 10*time.Second, func() bool { return jobs.has(row, "ucceeded") })
	var j jobJSON
	if rs.api(1).do("GET", fmt.Sprintf("/api/v1/jobs/%d", job.ID), nil, &j) != http.StatusOK || j.Status != "succeeded" {
		t.Fatalf("job through replica 1: %+v\nstream:\n%s", j, jobs)
	}
	// The job's duration is counted once over the replicas' /metrics (by
	// the one that stored its end), not by each replica that heard of it.
	durations := func() (n int) {
		for i := range rs.m {
			code, body := rs.api(i).send("GET", "/metrics", nil)
			if code != http.StatusOK {
				t.Fatalf("metrics of replica %d: HTTP %d", i, code)
			}
			for line := range strings.Lines(string(body)) {
				if c, ok := strings.CutPrefix(line, `restic_manager_job_duration_seconds_count{kind="init"} `); ok {
					k, _ := strconv.Atoi(strings.TrimSpace(c))
					n += k
				}
			}
		}
		return n
	}
	// Replica 1's stream has shown the end: its bus has the event, which
	// its metrics hear at the same time as the stream.
	waitFor(t, "the job's duration in a replica's metrics", 10*time.Second, func() bool { return durations() >= 1 })
	if n := durations(); n != 1 {
		t.Fatalf("the replicas' metrics count the job %d times, want once", n)
	}
}

// TestReplicasLeaderFailover: the leader stops; the other replica takes
// over the singleton work within a bounded time and delivers the
// notification of a job that failed while the first was down; the job's
// result is stored once and acknowledged, and when the agent sends it
// again (its ack lost) after the first replica came back, it is
// acknowledged again without a second result or a second notification.
func TestReplicasLeaderFailover(t *testing.T) {
	t.Parallel()
	var posts atomic.Int64 // messages the webhook received
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { posts.Add(1) }))
	t.Cleanup(hook.Close)
	rs := startReplicas(t, 2)
	l := rs.waitLeader(10 * time.Second)
	f := 1 - l
	if _, err := rs.m[f].Service().CreateNotificationChannel(t.Context(), server.CLIActor(), server.NotificationChannel{
		Name: "ops", Kind: server.ChannelWebhook, URL: hook.URL, Events: []string{server.NotifyJobFailed}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	h := rs.enrollHost("db-1")
	h.hello()
	rs.waitOnline(f, h.id)
	if code := rs.api(f).do("PUT", "/api/v1/hosts/"+h.id+"/repository",
		map[string]any{"url": filepath.Join(t.TempDir(), "repo"), "password": "pw"}, nil); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("set repository: HTTP %d", code)
	}
	var list struct {
		Jobs []jobJSON `json:"jobs"`
	}
	waitFor(t, "the init job", 10*time.Second, func() bool {
		return rs.api(f).do("GET", "/api/v1/jobs?host="+h.id, nil, &list) == http.StatusOK && len(list.Jobs) == 1
	})
	job := list.Jobs[0]
	cmd := h.command(job.UID, 20*time.Second)

	stopped := time.Now()
	rs.stop(l)
	if got := rs.waitLeader(10 * time.Second); got != f {
		t.Fatalf("replica %d leads after replica %d stopped", got, l)
	}
	t.Logf("replica %d took the lease %s after replica %d stopped", f, time.Since(stopped).Round(time.Millisecond), l)

	h.jobEvent(job.UID, cmd.Version+1, topics.JobDelivered)
	h.jobEvent(job.UID, cmd.Version+2, topics.JobRunning)
	seq := h.reportUntilAcked(job.UID, cmd.Version+3, topics.JobFailed, 2*time.Second, 30*time.Second)
	waitFor(t, "the job.failed notification", 20*time.Second, func() bool { return posts.Load() == 1 })

	// Replica l comes back; the agent, whose ack was lost, sends the
	// result again: acknowledged, nothing stored twice.
	rs.start(l)
	h.mu.Lock()
	delete(h.acked, seq)
	h.mu.Unlock()
	for !h.isAcked(seq) {
		h.sendJobEvent(seq, job.UID, cmd.Version+3, topics.JobFailed)
		waitFor(t, "the resent result acknowledged", 30*time.Second, func() bool { return h.isAcked(seq) })
	}
	var j jobJSON
	if rs.api(l).do("GET", fmt.Sprintf("/api/v1/jobs/%d", job.ID), nil, &j) != http.StatusOK || j.Status != "failed" {
		t.Fatalf("job through the restarted replica: %+v", j)
	}
	if got := rs.waitLeader(10 * time.Second); got != f {
		t.Fatalf("replica %d took the lease from the running leader %d", got, f)
	}
	// The store holds one delivery, the job.failed, sent; the webhook got
	// one message.
	d, err := rs.m[f].Service().ListNotificationDeliveries(t.Context(), server.CLIActor(), server.DeliveryFilter{})
	if err != nil || len(d) != 1 || d[0].Event != server.NotifyJobFailed || d[0].State != "sent" {
		t.Fatalf("deliveries %+v (%v), want one job.failed sent", d, err)
	}
	rs.stop(0)
	rs.stop(1)
	if n := posts.Load(); n != 1 {
		t.Fatalf("the webhook received %d messages, want 1", n)
	}
}

// TestReplicasLeaderKilled: the leader is a real serve process, killed
// with SIGKILL (no shutdown of any kind); PostgreSQL ends its session and
// releases the lease, and the in-process replica takes over within a
// bounded time: it delivers the notification of a job that failed after
// the kill, which it stored and acknowledged once.
func TestReplicasLeaderKilled(t *testing.T) {
	t.Parallel()
	bin := buildServer(t)
	var posts atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { posts.Add(1) }))
	t.Cleanup(hook.Close)
	rs := startReplicas(t, 1) // makes the master key and the admin
	p := startProc(t, []string{"RM_BROKER_PASSWORD=" + rs.broker.AdminPassword}, bin, "serve", "--data", rs.dataDir,
		"--db", rs.dbURL, "--broker", rs.broker.URL.String(), "--broker-user", mosquittotest.AdminUser,
		"--broker-client-id", "rm-replica-proc", "--http", "127.0.0.1:0", "--https", "", "--log-level", "debug")
	waitFor(t, "the serve process to serve", time.Minute, func() bool { return strings.Contains(p.logs.String(), "restic-manager is serving") })
	// The process leads once replica 0 has stopped (its LeaderRetry is the
	// default, 3 s); replica 0 comes back as a follower.
	rs.stop(0)
	waitFor(t, "the serve process to lead", 20*time.Second, func() bool {
		return strings.Contains(p.logs.String(), "this replica is the leader")
	})
	rs.start(0)
	if l := rs.leaders(); len(l) != 0 {
		t.Fatalf("replica 0 leads beside the serve process: %v\n%s", l, p.logs)
	}
	if _, err := rs.m[0].Service().CreateNotificationChannel(t.Context(), server.CLIActor(), server.NotificationChannel{
		Name: "ops", Kind: server.ChannelWebhook, URL: hook.URL, Events: []string{server.NotifyJobFailed}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	h := rs.enrollHost("files-1")
	h.hello()
	rs.waitOnline(0, h.id)
	if code := rs.api(0).do("PUT", "/api/v1/hosts/"+h.id+"/repository",
		map[string]any{"url": filepath.Join(t.TempDir(), "repo"), "password": "pw"}, nil); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("set repository: HTTP %d", code)
	}
	var list struct {
		Jobs []jobJSON `json:"jobs"`
	}
	waitFor(t, "the init job", 10*time.Second, func() bool {
		return rs.api(0).do("GET", "/api/v1/jobs?host="+h.id, nil, &list) == http.StatusOK && len(list.Jobs) == 1
	})
	job := list.Jobs[0]
	cmd := h.command(job.UID, 20*time.Second)

	killed := time.Now()
	p.stop(syscall.SIGKILL)
	if l := rs.waitLeader(10 * time.Second); l != 0 {
		t.Fatalf("replica %d leads", l)
	}
	t.Logf("replica 0 took the lease %s after the leader was killed", time.Since(killed).Round(time.Millisecond))
	h.jobEvent(job.UID, cmd.Version+1, topics.JobDelivered)
	h.jobEvent(job.UID, cmd.Version+2, topics.JobRunning)
	h.reportUntilAcked(job.UID, cmd.Version+3, topics.JobFailed, 2*time.Second, 30*time.Second)
	waitFor(t, "the job.failed notification", 20*time.Second, func() bool { return posts.Load() == 1 })
	var j jobJSON
	if rs.api(0).do("GET", fmt.Sprintf("/api/v1/jobs/%d", job.ID), nil, &j) != http.StatusOK || j.Status != "failed" {
		t.Fatalf("job after the kill: %+v", j)
	}
	rs.stop(0)
	if n := posts.Load(); n != 1 {
		t.Fatalf("the webhook received %d messages, want 1", n)
	}
}
