package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// upgradeStatusJSON is GET /api/v1/hosts/{id}/upgrade.
type upgradeStatusJSON struct {
	AgentVersion  string `json:"agent_version"`
	ServedVersion string `json:"served_version"`
	Outdated      bool   `json:"outdated"`
	Upgrade       *struct {
		UpgradeID   string `json:"upgrade_id"`
		FromVersion string `json:"from_version"`
		ToVersion   string `json:"to_version"`
		State       string `json:"state"`
		Reason      string `json:"reason"`
	} `json:"upgrade"`
}

// buildAgentAs builds the agent (or another main package) stamped with
// version into path.
func buildAgentAs(t *testing.T, pkg, version, path string) {
	t.Helper()
	startBuildAgentAs(t, pkg, version, path)()
}

// startBuildAgentAs starts buildAgentAs's build and returns at once; the
// function it returns waits for the build (a test starts the builds it
// needs later while it does other things).
func startBuildAgentAs(t *testing.T, pkg, version, path string) (wait func()) {
	t.Helper()
	cmd := goBuild(path, pkg, "-ldflags", "-X main.version="+version)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("build %s %s: %v", pkg, version, err)
	}
	built := sync.OnceValue(cmd.Wait)
	t.Cleanup(func() { built() }) // a test that failed early leaves no build writing into its directories
	return func() {
		t.Helper()
		if err := built(); err != nil {
			t.Fatalf("build %s %s: %v\n%s", pkg, version, err, out.String())
		}
	}
}

// serveAgentBuild puts the file at src into agentsDir as this platform's
// agent binary of version.
func serveAgentBuild(t *testing.T, agentsDir, src, version string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	name := "restic-manager-agent-" + runtime.GOOS + "-" + runtime.GOARCH
	tmp := filepath.Join(agentsDir, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(agentsDir, name)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(agentsDir, "VERSION"), []byte(version+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// binaryVersion runs `path version`.
func binaryVersion(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command(path, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", path, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (e *jobEnv) upgradeStatus() upgradeStatusJSON {
	e.t.Helper()
	var s upgradeStatusJSON
	if code := e.api().do("GET", "/api/v1/hosts/"+e.hostID+"/upgrade", nil, &s); code != http.StatusOK {
		e.t.Fatalf("upgrade status: HTTP %d", code)
	}
	return s
}

func (e *jobEnv) waitUpgrade(state string, d time.Duration) upgradeStatusJSON {
	e.t.Helper()
	var s upgradeStatusJSON
	waitFor(e.t, "the upgrade "+state, d, func() bool {
		s = e.upgradeStatus()
		if s.Upgrade == nil || s.Upgrade.State != state {
			return false
		}
		// The hello that settles an upgrade is handled at once; the host
		// row's versions come with the next presence flush, a moment
		// later (fleet_presence_flush.go). Done means both.
		return state != "done" || s.AgentVersion == s.Upgrade.ToVersion
	})
	return s
}

// startedAt is when the job started, as the server recorded it.
func (e *jobEnv) startedAt(id int64) time.Time {
	e.t.Helper()
	var j struct {
		StartedAt *time.Time `json:"started_at"`
	}
	if code := e.api().do("GET", fmt.Sprintf("/api/v1/jobs/%d", id), nil, &j); code != http.StatusOK || j.StartedAt == nil {
		e.t.Fatalf("job %d: HTTP %d, started_at %v", id, code, j.StartedAt)
	}
	return *j.StartedAt
}

// logTime is the time of the first agent log line containing msg.
func logTime(t *testing.T, logs, msg string) time.Time {
	t.Helper()
	re := regexp.MustCompile(`(?m)^time=(\S+) .*` + regexp.QuoteMeta(msg))
	m := re.FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no agent log line says %q:\n%s", msg, logs)
	}
	at, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestFleetUpgrade upgrades a real agent through the API, end to end on
// Linux: agent 1.0.0 runs from its own file and is busy with a backup when
// the upgrade to the served 2.0.0 arrives, with another backup queued
// behind it. The agent downloads over its pinned TLS, lets the running
// backup finish, swaps its file and re-executes itself (same pid); its
// hello says 2.0.0, the upgrade is done, the queued backup runs on the new
// binary, and the busy backup's events and log (in the outbox at the swap)
// arrive complete and once. Then a served build that does not run is
// refused before any swap, and one that never says hello is rolled back
// by itself: the server shows both failures and the agent keeps 2.0.0.
// Last, an upgrade asked while the agent is offline happens when it
// returns, and a backup queued meanwhile runs.
func TestFleetUpgrade(t *testing.T) {
	t.Parallel()
	bin, agentsDir := t.TempDir(), t.TempDir()
	exe := filepath.Join(bin, "restic-manager-agent")
	// Every build the test serves, started at once: the later ones are
	// ready by the time the test gets to them.
	newBuild := filepath.Join(t.TempDir(), "agent-2.0.0")
	neverHello := filepath.Join(t.TempDir(), "never-hello")
	later := filepath.Join(t.TempDir(), "agent-5.0.0")
	builtExe := startBuildAgentAs(t, "../restic-manager-agent", "1.0.0", exe)
	builtNew := startBuildAgentAs(t, "../restic-manager-agent", "2.0.0", newBuild)
	builtNeverHello := startBuildAgentAs(t, "./testdata/brokenagent", "4.0.0", neverHello)
	builtLater := startBuildAgentAs(t, "../restic-manager-agent", "5.0.0", later)
	builtExe()
	builtNew()
	serveAgentBuild(t, agentsDir, newBuild, "2.0.0")

	// Enrolled over HTTPS with the pinned CA: the upgrade downloads the same way.
	e := newJobEnvWith(t, "upgraded", exe, func(m *Main) { m.AgentsDir = agentsDir })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", e.agentLogs())
		}
	})
	// A short probation for the rollback below; the good upgrade says
	// hello within it on loopback.
	e.agent = startProc(t, []string{"RM_AGENT_UPGRADE_PROBATION=20s"}, exe, "run", "--config", e.cfgPath)
	e.waitOnline(30 * time.Second)
	pid := e.agent.cmd.Process.Pid
	if s := e.upgradeStatus(); !s.Outdated || s.AgentVersion != "1.0.0" || s.ServedVersion != "2.0.0" || s.Upgrade != nil {
		t.Fatalf("before the upgrade: %+v", s)
	}
	repo := filepath.Join(e.dir, "repo")
	if init := e.setReadyRepository(repo, "pw"); init.Status != "succeeded" {
		t.Fatalf("init: %+v\n%s", init, e.agentLogs())
	}
	data := makeData(t, filepath.Join(e.dir, "src"), 20, 4096)

	// Busy: a backup held in restic, and one queued behind it.
	if err := os.WriteFile(e.hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	busy := e.runJob(map[string]any{"kind": "backup", "paths": []string{data}})
	e.waitStatus(busy, "running", 30*time.Second)
	queued := e.runJob(map[string]any{"kind": "backup", "paths": []string{data}})
	e.waitStatus(queued, "delivered", 30*time.Second)

	var requested struct {
		UpgradeID string `json:"upgrade_id"`
		ToVersion string `json:"to_version"`
		State     string `json:"state"`
	}
	if code := e.api().do("POST", "/api/v1/hosts/"+e.hostID+"/upgrade", map[string]any{}, &requested); code != http.StatusOK ||
		requested.ToVersion != "2.0.0" || requested.State != "requested" {
		t.Fatalf("upgrade request: HTTP %d %+v", code, requested)
	}
	waitFor(t, "the upgrade to wait for the running backup", 60*time.Second, func() bool {
		return strings.Contains(e.agentLogs(), "upgrade waits for the running job to finish")
	})
	if e.job(queued).Status != "delivered" {
		t.Fatalf("the queued backup started during the upgrade: %s", e.job(queued).Status)
	}
	os.Remove(e.hold)

	done := e.waitUpgrade("done", 90*time.Second)
	if done.AgentVersion != "2.0.0" || done.Outdated {
		t.Fatalf("after the upgrade: %+v", done)
	}
	var h hostJSON
	if e.api().do("GET", "/api/v1/hosts/"+e.hostID, nil, &h); h.AgentVersion != "2.0.0" {
		t.Fatalf("hello says %q, want 2.0.0", h.AgentVersion)
	}
	if got := binaryVersion(t, exe); got != "restic-manager-agent 2.0.0" {
		t.Fatalf("the agent's file says %q", got)
	}
	if got := binaryVersion(t, exe+".previous"); got != "restic-manager-agent 1.0.0" {
		t.Fatalf("the previous binary says %q", got)
	}
	if e.agent.exited() || e.agent.cmd.Process.Pid != pid {
		t.Fatalf("the agent process did not re-execute in place\n%s", e.agentLogs())
	}

	b := e.waitJob(busy, 60*time.Second)
	q := e.waitJob(queued, 120*time.Second)
	if b.Status != "succeeded" || q.Status != "succeeded" {
		t.Fatalf("busy %s (%s), queued %s (%s)\n%s", b.Status, b.Reason, q.Status, q.Reason, e.agentLogs())
	}
	swapped := logTime(t, e.agentLogs(), "new agent binary in place")
	if started := e.startedAt(queued); !started.After(swapped) {
		t.Fatalf("the queued backup started at %s, before the swap at %s: it did not wait for the new binary", started, swapped)
	}
	// The busy backup finished on 1.0.0 right before the swap; its events
	// and log went through the outbox and arrive whole, each line once.
	if lines := e.jobLog(busy); int64(len(lines)) != b.LogLines || b.Summary == nil || b.Summary.LogLines != uint64(len(lines)) {
		t.Fatalf("busy backup: %d log lines stored, job says %d, result says %+v", len(lines), b.LogLines, b.Summary)
	}
	e.jobLog(queued)
	if snaps := repoSnapshots(t, repo, "pw"); len(snaps) != 2 {
		t.Fatalf("the repository has %d snapshots, want 2", len(snaps))
	}

	// A build that does not run here is refused before anything is swapped.
	broken := filepath.Join(t.TempDir(), "broken")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	serveAgentBuild(t, agentsDir, broken, "3.0.0")
	if code := e.api().do("POST", "/api/v1/agents/upgrade", map[string]any{"outdated": true}, nil); code != http.StatusOK {
		t.Fatalf("upgrade all outdated: HTTP %d", code)
	}
	failed := e.waitUpgrade("failed", 60*time.Second)
	if failed.Upgrade.ToVersion != "3.0.0" || !strings.Contains(failed.Upgrade.Reason, "does not run on this machine") {
		t.Fatalf("refused build: %+v", failed.Upgrade)
	}
	if got := binaryVersion(t, exe); got != "restic-manager-agent 2.0.0" || e.agent.exited() {
		t.Fatalf("after a refused build the agent's file says %q (exited %v)", got, e.agent.exited())
	}

	// A build that runs but never says hello is rolled back by itself.
	builtNeverHello()
	serveAgentBuild(t, agentsDir, neverHello, "4.0.0")
	if code := e.api().do("POST", "/api/v1/hosts/"+e.hostID+"/upgrade", map[string]any{}, nil); code != http.StatusOK {
		t.Fatalf("upgrade to 4.0.0: HTTP %d", code)
	}
	back := e.waitUpgrade("rolled_back", 120*time.Second)
	if !strings.Contains(back.Upgrade.Reason, "upgrade to 4.0.0 failed, rolled back to 2.0.0") ||
		!strings.Contains(back.Upgrade.Reason, "did not connect and say hello within 20s") {
		t.Fatalf("rollback: %+v", back.Upgrade)
	}
	e.waitOnline(60 * time.Second)
	if got := binaryVersion(t, exe); got != "restic-manager-agent 2.0.0" || e.agent.exited() || e.agent.cmd.Process.Pid != pid {
		t.Fatalf("after the rollback the agent's file says %q (exited %v)\n%s", got, e.agent.exited(), e.agentLogs())
	}
	if e.api().do("GET", "/api/v1/hosts/"+e.hostID, nil, &h); h.AgentVersion != "2.0.0" {
		t.Fatalf("after the rollback hello says %q", h.AgentVersion)
	}
	// The agent repeats its last report after every hello; the server
	// keeps the rollback as it is.
	if s := e.upgradeStatus(); s.Upgrade.State != "rolled_back" || s.Upgrade.UpgradeID != back.Upgrade.UpgradeID {
		t.Fatalf("after the agent's hello: %+v", s.Upgrade)
	}

	// Offline: the upgrade and a backup wait on the server; both happen
	// when the agent returns.
	e.agent.stop(syscall.SIGTERM)
	waitFor(t, "host offline", 30*time.Second, func() bool {
		var h hostJSON
		return e.api().do("GET", "/api/v1/hosts/"+e.hostID, nil, &h) == http.StatusOK && !h.Online
	})
	builtLater()
	serveAgentBuild(t, agentsDir, later, "5.0.0")
	offlineJob := e.runJob(map[string]any{"kind": "backup", "paths": []string{data}})
	if code := e.api().do("POST", "/api/v1/hosts/"+e.hostID+"/upgrade", map[string]any{}, nil); code != http.StatusOK {
		t.Fatalf("upgrade of an offline host: HTTP %d", code)
	}
	if s := e.upgradeStatus(); s.Upgrade.State != "requested" || s.Upgrade.ToVersion != "5.0.0" {
		t.Fatalf("offline host's upgrade: %+v", s.Upgrade)
	}
	e.agent = startProc(t, nil, exe, "run", "--config", e.cfgPath)
	if s := e.waitUpgrade("done", 90*time.Second); s.AgentVersion != "5.0.0" {
		t.Fatalf("after the offline host returned: %+v", s)
	}
	if j := e.waitJob(offlineJob, 120*time.Second); j.Status != "succeeded" {
		t.Fatalf("backup queued while offline: %s (%s)\n%s", j.Status, j.Reason, e.agentLogs())
	}
	if got := binaryVersion(t, exe); got != "restic-manager-agent 5.0.0" {
		t.Fatalf("the agent's file says %q", got)
	}

	entries, err := e.m.Service().ListAudit(t.Context(), server.AuditFilter{Action: "agent.upgrade"})
	if err != nil || len(entries) != 4 {
		t.Fatalf("audit rows for agent.upgrade: %d (%v), want 4", len(entries), err)
	}
}
