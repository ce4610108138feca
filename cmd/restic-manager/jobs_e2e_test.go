package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

const repoPassword = "e2e-repo-pw-Kq7-horse"

// TestJobsHappyPath is #3's main flow with the real server, agent binary and
// restic: set a repository (auto-init), back up, see the snapshot listed,
// restic check passes on the repository, restore into a temp dir, and bad
// input is refused with nothing queued.
func TestJobsHappyPath(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "office-pc")
	e.startAgent()
	repo := filepath.Join(e.dir, "repo")

	init := e.setRepository(repo, repoPassword)
	if init.Status != "succeeded" {
		t.Fatalf("init: %+v\n%s", init, e.agentLogs())
	}
	waitFor(t, "repository ready", 10*time.Second, func() bool {
		st, err := e.m.Service().GetRepository(t.Context(), e.hostID)
		return err == nil && st.State == server.RepoReady && st.InitializedAt != nil
	})

	data := makeData(t, filepath.Join(e.dir, "src"), 40, 8<<10)
	id := e.runJob(map[string]any{"kind": "backup", "paths": []string{data}})
	j := e.waitJob(id, 90*time.Second)
	if j.Status != "succeeded" || j.ExitCode == nil || *j.ExitCode != 0 || !topics.ValidResticID(j.SnapshotID) || len(j.SnapshotID) != 64 {
		t.Fatalf("backup: %+v\n%s", j, e.agentLogs())
	}
	if j.Summary == nil || j.Summary.Backup == nil || j.Summary.Backup.FilesNew != 40 || j.Summary.Backup.DataAdded == 0 {
		t.Fatalf("backup summary: %+v", j.Summary)
	}
	lines := e.jobLog(id)
	if len(lines) == 0 || uint64(len(lines)) != j.Summary.LogLines {
		t.Fatalf("backup log: %d lines stored, result says %d", len(lines), j.Summary.LogLines)
	}

	// The snapshot is listed for the host, by the API too.
	waitFor(t, "snapshot listed", 20*time.Second, func() bool {
		var list struct {
			Snapshots []struct {
				ID string `json:"id"`
			} `json:"snapshots"`
		}
		e.api().do("GET", "/api/v1/hosts/"+e.hostID+"/snapshots", nil, &list)
		return len(list.Snapshots) == 1 && list.Snapshots[0].ID == j.SnapshotID
	})
	if ids := repoSnapshots(t, repo, repoPassword); !slices.Equal(ids, []string{j.SnapshotID}) {
		t.Fatalf("repository holds %v, the job says %s", ids, j.SnapshotID)
	}
	check := exec.Command(agenttest.RequireBinary(t, "restic"), "check")
	check.Env = append(os.Environ(), "RESTIC_REPOSITORY="+repo, "RESTIC_PASSWORD="+repoPassword)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("restic check on the repository: %v\n%s", err, out)
	}

	// Restore into a temp dir: the same files.
	target := t.TempDir()
	rid := e.runJob(map[string]any{"kind": "restore", "snapshot": j.SnapshotID, "target": target})
	if r := e.waitJob(rid, 60*time.Second); r.Status != "succeeded" {
		t.Fatalf("restore: %+v\n%s", r, strings.Join(e.jobLog(rid), "\n"))
	}
	sameTree(t, data, filepath.Join(target, data))

	// Bad input: a clear 4xx, nothing queued.
	before := e.countJobs()
	for _, bad := range []map[string]any{
		{"kind": "defragment"},
		{"kind": "backup"},
		{"kind": "backup", "paths": []string{"relative/dir"}},
		{"kind": "restore", "snapshot": "latest", "target": "relative/dir"},
		{"kind": "restore", "snapshot": "latest"},
		{"kind": "forget"},
	} {
		var body struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		code := e.api().doRaw("POST", "/api/v1/hosts/"+e.hostID+"/jobs", bad, &body)
		if code < 400 || code >= 500 || body.Message == "" {
			t.Errorf("job %v: HTTP %d %+v, want a 4xx with a message", bad, code, body)
		}
	}
	if code := e.api().doRaw("PUT", "/api/v1/hosts/"+e.hostID+"/repository",
		map[string]any{"url": "ftp:/not/a/restic/backend", "password": "x"}, nil); code != http.StatusBadRequest {
		t.Errorf("malformed repository URL: HTTP %d, want 400", code)
	}
	if after := e.countJobs(); after != before {
		t.Errorf("bad input queued jobs: %d before, %d after", before, after)
	}
}

// countJobs is how many jobs the host has.
func (e *jobEnv) countJobs() int {
	var list struct {
		Jobs []jobJSON `json:"jobs"`
	}
	e.api().do("GET", "/api/v1/jobs?host="+e.hostID+"&limit=500", nil, &list)
	return len(list.Jobs)
}

// TestJobWrongPassword: a repository set with the wrong password fails its
// init and a backup with "wrong password", and the exit code is recorded.
func TestJobWrongPassword(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "wrong-pw")
	repo := filepath.Join(e.dir, "repo")
	agenttest.InitRepository(t, repo, "the right one")
	e.startAgent()
	init := e.setRepository(repo, "not the right one")
	if init.Status != "failed" || !strings.Contains(init.Reason, "wrong password") {
		t.Fatalf("init with a wrong password: %+v", init)
	}
	st, err := e.m.Service().GetRepository(t.Context(), e.hostID)
	if err != nil || st.State != server.RepoFailed {
		t.Fatalf("repository state: %+v %v", st, err)
	}
	id := e.runJob(map[string]any{"kind": "backup", "paths": []string{e.dir}})
	j := e.waitJob(id, 60*time.Second)
	if j.Status != "failed" || !strings.Contains(j.Reason, "wrong password") || j.ExitCode == nil || *j.ExitCode != 12 {
		t.Fatalf("backup with a wrong password: %+v", j)
	}
}

// TestJobDuplicateCommandAndExpiry: the same command delivered twice runs
// restic once; a command whose expires_at passed while the host was
// offline ends expired and never runs.
func TestJobDuplicateCommandAndExpiry(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "dup-host")
	var mu sync.Mutex
	cmds := map[string][]byte{} // job uid → the run command as published
	if err := e.m.Broker().Subscribe(topics.CmdTopic(e.hostID), func(m broker.Message) {
		var c topics.Command
		if json.Unmarshal(m.Payload, &c) == nil && c.Action == topics.CmdRun {
			mu.Lock()
			cmds[c.Job] = m.Payload
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	e.startAgent()
	repo := filepath.Join(e.dir, "repo")
	if init := e.setReadyRepository(repo, repoPassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	data := makeData(t, filepath.Join(e.dir, "src"), 5, 1024)
	id := e.runJob(map[string]any{"kind": "backup", "paths": []string{data}})
	j := e.waitJob(id, 60*time.Second)
	if j.Status != "succeeded" {
		t.Fatalf("backup: %+v", j)
	}
	mu.Lock()
	payload := cmds[j.UID]
	mu.Unlock()
	if payload == nil {
		t.Fatalf("the run command of job %s was not seen on %s", j.UID, topics.CmdTopic(e.hostID))
	}
	if n := len(e.resticCalls("backup")); n != 1 {
		t.Fatalf("restic backup ran %d times before the duplicate", n)
	}
	// Deliver the very same command again, twice.
	for range 2 {
		if err := e.m.Broker().Publish(topics.CmdTopic(e.hostID), payload, false, 1); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * time.Second)
	if n := len(e.resticCalls("backup")); n != 1 {
		t.Fatalf("restic backup ran %d times after a duplicate command, want 1\n%s", n, e.agentLogs())
	}
	if again := e.job(id); again.Status != "succeeded" || again.SnapshotID != j.SnapshotID {
		t.Fatalf("the duplicate changed the job: %+v", again)
	}

	// Expiry while offline.
	e.agent.stop(syscall.SIGTERM)
	waitFor(t, "host offline", 20*time.Second, func() bool {
		var h hostJSON
		e.api().do("GET", "/api/v1/hosts/"+e.hostID, nil, &h)
		return !h.Online
	})
	// The API's shortest expiry is a minute; the domain takes seconds.
	expJob, err := e.m.Service().CreateJob(t.Context(), server.CLIActor(), e.hostID,
		server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobBackup, Paths: []string{data}}, ExpiresIn: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	exp := expJob.ID
	time.Sleep(3 * time.Second)
	e.startAgent()
	if x := e.waitJob(exp, 60*time.Second); x.Status != "expired" || x.ExitCode != nil {
		t.Fatalf("expired job: %+v", x)
	}
	time.Sleep(time.Second)
	if n := len(e.resticCalls("backup")); n != 1 {
		t.Fatalf("restic backup ran %d times; the expired job must not run", n)
	}
}

// startSlowBackup starts the agent, sets a repository and starts a slow
// backup; it returns once restic is well into it.
func (e *jobEnv) startSlowBackup() (repo, data string, id int64) {
	e.t.Helper()
	e.startAgent()
	repo = filepath.Join(e.dir, "repo")
	if init := e.setReadyRepository(repo, repoPassword); init.Status != "succeeded" {
		e.t.Fatalf("init: %+v", init)
	}
	data = makeData(e.t, filepath.Join(e.dir, "src"), 4, 3<<20)
	id = e.slowBackup(data)
	e.waitResticRunning(id, 0)
	return repo, data, id
}

// slowBackup queues a backup that takes several seconds: incompressible
// data behind an upload cap (restic applies --limit-upload to every
// backend, the local one included).
func (e *jobEnv) slowBackup(data string) int64 {
	return e.runJob(map[string]any{"kind": "backup", "paths": []string{data}, "bandwidth_up_kbps": 1024})
}

// waitResticRunning waits until the job is running and restic backup has
// started.
func (e *jobEnv) waitResticRunning(id int64, backupsBefore int) {
	e.t.Helper()
	e.waitStatus(id, "running", 30*time.Second)
	waitFor(e.t, "restic backup started", 10*time.Second, func() bool { return len(e.resticCalls("backup")) > backupsBefore })
	time.Sleep(1500 * time.Millisecond) // well into the upload
}

// TestJobAgentKilledMidBackup: SIGKILL the agent while restic runs; after a
// restart the job is interrupted, stale locks are cleared before the next
// job, and the next backup succeeds.
func TestJobAgentKilledMidBackup(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "killed-agent")
	_, data, id := e.startSlowBackup()
	e.agent.stop(syscall.SIGKILL)

	e.startAgent()
	j := e.waitJob(id, 60*time.Second)
	if j.Status != "interrupted" {
		t.Fatalf("killed job: %+v\n%s", j, e.agentLogs())
	}
	next := e.runJob(map[string]any{"kind": "backup", "paths": []string{data}})
	n := e.waitJob(next, 90*time.Second)
	if n.Status != "succeeded" || n.SnapshotID == "" {
		t.Fatalf("backup after the interrupted one: %+v\n%s", n, strings.Join(e.jobLog(next), "\n"))
	}
	if len(e.resticCalls("unlock")) == 0 {
		t.Fatalf("no restic unlock ran after the interrupted job; restic calls:\n%s", mustRead(e.resticLog))
	}
	if log := strings.Join(e.jobLog(next), "\n"); !strings.Contains(log, "unlock") {
		t.Fatalf("the next job's log does not report the unlock:\n%s", log)
	}
}

func mustRead(path string) string { b, _ := os.ReadFile(path); return string(b) }

// checkExactlyOnce verifies what a disturbed backup must end with: the
// job succeeded with the one snapshot the repository holds, its whole log
// stored without gaps or duplicates, and the snapshot listed once.
func (e *jobEnv) checkExactlyOnce(id int64, repo string, repoSnapsBefore int) {
	t := e.t
	t.Helper()
	j := e.waitJob(id, 90*time.Second)
	if j.Status != "succeeded" || j.Summary == nil {
		t.Fatalf("backup: %+v\n%s", j, e.agentLogs())
	}
	ids := repoSnapshots(t, repo, repoPassword)
	if len(ids) != repoSnapsBefore+1 || !slices.Contains(ids, j.SnapshotID) {
		t.Fatalf("repository holds %v; job snapshot %s", ids, j.SnapshotID)
	}
	lines := e.jobLog(id) // numbered 1..n, no gaps or duplicates
	if uint64(len(lines)) != j.Summary.LogLines || len(lines) == 0 {
		t.Fatalf("log: %d lines stored, result says %d", len(lines), j.Summary.LogLines)
	}
	if again := e.jobLog(id); len(again) != len(lines) {
		t.Fatal("log changed between reads")
	}
	waitFor(t, "snapshot listed once", 20*time.Second, func() bool {
		list, err := e.m.Service().Snapshots(t.Context(), e.hostID)
		if err != nil {
			return false
		}
		n := 0
		for _, s := range list.Snapshots {
			if s.ID == j.SnapshotID {
				n++
			}
		}
		return n == 1 && len(list.Snapshots) == len(ids)
	})
	// One event of each kind: the job's version is that of exactly one
	// delivered, one running and one terminal transition.
	full, err := e.m.Service().GetJob(t.Context(), id)
	if err != nil || full.Version != 4 {
		t.Fatalf("job version %+v %v, want 4 (queued, delivered, running, succeeded)", full, err)
	}
}

// TestJobServerDownMidBackup: the server stops while restic runs; the
// backup finishes on the agent; after the server restarts the result, the
// whole log and the snapshot arrive exactly once.
func TestJobServerDownMidBackup(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "server-down")
	e.setAgentConfig("reconnect_backoff_max", "1s") // back a second after the server
	repo, _, id := e.startSlowBackup()
	lists := e.snapshotListsStored()
	e.stopServer()
	// The backup finishes and its result is in the agent's outbox.
	waitFor(t, "the backup to finish while the server is down", 90*time.Second, func() bool {
		return e.snapshotListsStored() > lists
	})
	if snaps := repoSnapshots(t, repo, repoPassword); len(snaps) != 1 {
		t.Fatalf("the repository holds %v after the backup; want one snapshot", snaps)
	}
	e.startServerAgain()
	e.waitOnline(60 * time.Second)
	e.checkExactlyOnce(id, repo, 0)
}

// TestJobNetworkCutMidBackup: the agent↔broker link is cut by a TCP proxy
// while restic runs and restored after the backup finished: same
// guarantees as a server restart.
func TestJobNetworkCutMidBackup(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "flaky-link")
	proxy := newTCPProxy(t, e.mqttsAddr)
	u, err := url.Parse(readConfigValue(t, e.cfgPath, "mqtt_url"))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = proxy.Addr()
	e.setAgentConfig("mqtt_url", u.String())
	e.setAgentConfig("reconnect_backoff_max", "1s") // back a second after the link
	repo, _, id := e.startSlowBackup()
	lists := e.snapshotListsStored()
	proxy.Cut()
	// The backup finishes and its result is in the agent's outbox.
	waitFor(t, "the backup to finish while the link is down", 90*time.Second, func() bool {
		return e.snapshotListsStored() > lists
	})
	if snaps := repoSnapshots(t, repo, repoPassword); len(snaps) != 1 {
		t.Fatalf("the repository holds %v after the backup; want one snapshot", snaps)
	}
	if j := e.job(id); j.terminal() {
		t.Fatalf("the job ended (%s) while its agent was cut off", j.Status)
	}
	proxy.Restore()
	e.checkExactlyOnce(id, repo, 0)
}

// readConfigValue reads one top-level scalar of the agent's YAML config.
func readConfigValue(t *testing.T, path, key string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	t.Fatalf("%s has no %s", path, key)
	return ""
}
