package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// Pre/post backup hooks (#10), end to end: the real server, the real agent
// binary and the real restic.

// hookMarker is in every hook body of these tests and never in what the
// hooks print: finding it anywhere but the agent's own applied config
// means a body leaked.
const hookMarker = "hook-body-marker-Zq81"

// agentSecretEnv is in the agent's own environment; a hook must not see it.
const agentSecretEnv = "agent-env-secret-Pw3x"

// startHookAgent runs the agent with secrets in its environment (as a
// service manager might set them) and waits until it is online.
func (e *jobEnv) startHookAgent() {
	e.t.Helper()
	p := &agentProc{logs: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(agentBin, "run", "--config", e.cfgPath)
	p.cmd.Env = append(os.Environ(), "RESTIC_PASSWORD="+agentSecretEnv, "AWS_SECRET_ACCESS_KEY="+agentSecretEnv)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	e.t.Cleanup(func() { p.stop(syscall.SIGKILL) })
	e.agent = p
	e.waitOnline(30 * time.Second)
}

// restartServerLogged restarts the server with its log (debug level)
// going to the returned buffer.
func (e *jobEnv) restartServerLogged() *lockedBuffer {
	e.t.Helper()
	e.stopServer()
	buf := &lockedBuffer{}
	m := &Main{DataDir: e.dataDir, HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0", MQTTSAddr: e.mqttsAddr, Stdout: io.Discard,
		Logger: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), AdminPassword: "admin password for tests"}
	m.ServiceOptions.PasswordHashCost = servertest.CheapPasswordHash() // as startServer's
	if err := m.Run(e.t.Context()); err != nil {
		e.t.Fatalf("start server: %v", err)
	}
	e.t.Cleanup(func() { m.Close() })
	e.m = m
	return buf
}

// setGroup creates or replaces a source group through the API.
func (e *jobEnv) setGroup(name string, body map[string]any) {
	e.t.Helper()
	body["name"] = name
	path := "/api/v1/hosts/" + e.hostID + "/source-groups"
	method, want := http.MethodPost, http.StatusCreated
	if code := e.api().do("GET", path+"/"+name, nil, nil); code == http.StatusOK {
		method, want, path = http.MethodPut, http.StatusOK, path+"/"+name
	}
	if code, raw := e.api().send(method, path, body); code != want {
		e.t.Fatalf("%s source group %s: HTTP %d %s", method, name, code, raw)
	}
}

// setHostHooks sets the host's default hooks through the API.
func (e *jobEnv) setHostHooks(body map[string]any) {
	e.t.Helper()
	if code, raw := e.api().send(http.MethodPut, "/api/v1/hosts/"+e.hostID+"/hooks", body); code != http.StatusOK {
		e.t.Fatalf("PUT hooks: HTTP %d %s", code, raw)
	}
}

// backup runs a backup job (of a group, or of paths) to its end.
func (e *jobEnv) backup(body map[string]any) (jobJSON, string) {
	e.t.Helper()
	e.waitConfigApplied()
	body["kind"] = "backup"
	j := e.waitJob(e.runJob(body), 90*time.Second)
	return j, strings.Join(e.jobLog(j.ID), "\n")
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return strings.TrimSpace(string(b))
}

// TestHooksAroundBackups (#10) walks the list with one host: a
// failing pre hook stops restic and the post hook still runs with
// RM_JOB_STATUS=failed; a good one runs before restic's first line and the
// post hook gets the snapshot; the variables are the documented ones and
// no secret; groups use the host default unless they have their own;
// forget, prune and check run no hook; a backup failing on a wrong password
// runs the post hook with "failed"; no body is in the database files, a
// log or the audit log; operators cannot set or read bodies.
func TestHooksAroundBackups(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "db-server")
	e.setAgentConfig("log_level", "debug")
	serverLog := e.restartServerLogged()
	e.startHookAgent()
	repo := filepath.Join(e.dir, "repo")
	if init := e.setReadyRepository(repo, repoPassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	data := makeData(t, filepath.Join(e.dir, "db"), 3, 2048)
	status, envFile := filepath.Join(e.dir, "post-status"), filepath.Join(e.dir, "post-env")
	post := fmt.Sprintf(": %s; echo \"$RM_JOB_STATUS $RM_SNAPSHOT_ID\" > %q; env > %q", hookMarker, status, envFile)

	// 1. pre hook exit 3: failed, restic never ran, the post hook ran.
	e.setGroup("db", map[string]any{"paths": []string{data}, "pre_hook": ": " + hookMarker + "; exit 3", "post_hook": post})
	j, log := e.backup(map[string]any{"source_group": "db"})
	if j.Status != "failed" || !strings.Contains(j.Reason, "pre_hook failed (exit 3)") {
		t.Fatalf("backup after a failing pre hook: %+v\n%s", j, log)
	}
	if n := len(repoSnapshots(t, repo, repoPassword)); n != 0 || len(e.resticCalls("backup")) != 0 {
		t.Fatalf("restic ran after the pre hook failed: %d snapshots, calls %v", n, e.resticCalls("backup"))
	}
	if got := readTrim(t, status); got != "failed" {
		t.Fatalf("post hook after the pre hook failed wrote %q", got)
	}
	env := readTrim(t, envFile)
	for _, want := range []string{"RM_JOB_ID=" + j.UID, "RM_JOB_KIND=backup", "RM_HOST_NAME=db-server", "RM_SOURCE_GROUP=db", "RM_JOB_STATUS=failed", "PATH=/"} {
		if !slices.ContainsFunc(strings.Split(env, "\n"), func(l string) bool { return strings.HasPrefix(l, want) }) {
			t.Fatalf("post hook environment lacks %s:\n%s", want, env)
		}
	}
	for _, secret := range []string{agentSecretEnv, repoPassword, "RESTIC_", "AWS_", "RM_SNAPSHOT_ID"} {
		if strings.Contains(env, secret) {
			t.Fatalf("post hook environment holds %q:\n%s", secret, env)
		}
	}

	// 2. echo hello: before restic's first line; the post hook (kept: the
	// body does not name it) gets the snapshot.
	e.setGroup("db", map[string]any{"paths": []string{data}, "pre_hook": ": " + hookMarker + "; echo hello; echo careful >&2"})
	j, log = e.backup(map[string]any{"source_group": "db"})
	if j.Status != "succeeded" || j.SnapshotID == "" {
		t.Fatalf("backup with echo hello: %+v\n%s", j, log)
	}
	lines := e.jobLog(j.ID)
	hello := slices.Index(lines, "hook: hello")
	first := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "restic ") })
	if hello < 0 || first < 0 || hello > first || !slices.Contains(lines, "hook: [stderr] careful") {
		t.Fatalf("hook: hello (line %d) must come before restic's first line (%d):\n%s", hello, first, log)
	}
	if got := readTrim(t, status); got != "succeeded "+j.SnapshotID || !slices.Contains(repoSnapshots(t, repo, repoPassword), j.SnapshotID) {
		t.Fatalf("post hook wrote %q; the job's snapshot is %s", got, j.SnapshotID)
	}

	// 3. The host default applies to a group without hooks; a group's own wins.
	e.setHostHooks(map[string]any{"pre_hook": ": " + hookMarker + "; echo host-pre", "post_hook": ": " + hookMarker + "; echo host-post"})
	e.setGroup("docs", map[string]any{"paths": []string{data}})
	if _, log := e.backup(map[string]any{"source_group": "docs"}); !strings.Contains(log, "hook: host-pre") || !strings.Contains(log, "hook: host-post") {
		t.Fatalf("a group without hooks did not run the host's:\n%s", log)
	}
	e.setGroup("db", map[string]any{"paths": []string{data}, "post_hook": ""}) // keeps its pre hook, drops its post hook
	if _, log := e.backup(map[string]any{"source_group": "db"}); !strings.Contains(log, "hook: hello") || strings.Contains(log, "host-pre") ||
		!strings.Contains(log, "hook: host-post") {
		t.Fatalf("db's own pre hook must win over the host's, the host's post hook apply:\n%s", log)
	}

	// 4. forget, prune and check run no hook; a backup of paths does.
	touched := filepath.Join(e.dir, "touched")
	e.setHostHooks(map[string]any{"pre_hook": fmt.Sprintf(": %s; touch %q", hookMarker, touched), "post_hook": fmt.Sprintf("touch %q.post", touched)})
	e.waitConfigApplied()
	for _, body := range []map[string]any{{"kind": "forget", "retention": map[string]any{"last": 10}}, {"kind": "prune"}, {"kind": "check"}} {
		if j := e.waitJob(e.runJob(body), 90*time.Second); j.Status != "succeeded" {
			t.Fatalf("%v: %+v", body, j)
		}
		for _, f := range []string{touched, touched + ".post"} {
			if _, err := os.Stat(f); err == nil {
				t.Fatalf("a %v job ran a hook (%s exists)", body["kind"], f)
			}
		}
	}
	if j, log := e.backup(map[string]any{"paths": []string{data}}); j.Status != "succeeded" || !fileExists(touched) || !fileExists(touched+".post") {
		t.Fatalf("a backup of paths did not run the host's hooks: %+v\n%s", j, log)
	}

	// 5. A backup that fails (wrong password): the post hook says failed.
	e.setGroup("db", map[string]any{"paths": []string{data}, "post_hook": post})
	e.setRepository(repo, "not-the-password")
	if j, log := e.backup(map[string]any{"source_group": "db"}); j.Status != "failed" || readTrim(t, status) != "failed" {
		t.Fatalf("backup with a wrong password: %+v, post hook wrote %q\n%s", j, readTrim(t, status), log)
	}

	// 6. Operators: 403 on a change, has_pre_hook without the body on a read.
	addUser(t, e.m, "otto", server.RoleOperator)
	op := apiClient{t: t, base: e.m.HTTPURL(), token: cli(t, "", "apitoken", "create", "--user", "otto", "--data", e.dataDir)}
	for _, try := range []struct {
		method, path string
		body         map[string]any
	}{
		{http.MethodPut, "/api/v1/hosts/" + e.hostID + "/hooks", map[string]any{"pre_hook": "id"}},
		{http.MethodPut, "/api/v1/hosts/" + e.hostID + "/source-groups/db", map[string]any{"name": "db", "paths": []string{data}, "pre_hook": "id"}},
	} {
		if code, raw := op.send(try.method, try.path, try.body); code != http.StatusForbidden {
			t.Fatalf("operator %s %s: HTTP %d %s", try.method, try.path, code, raw)
		}
	}
	code, raw := op.send(http.MethodGet, "/api/v1/hosts/"+e.hostID+"/source-groups/db", nil)
	if code != http.StatusOK || !strings.Contains(string(raw), `"has_pre_hook":true`) || strings.Contains(string(raw), `"pre_hook"`) ||
		strings.Contains(string(raw), hookMarker) {
		t.Fatalf("operator GET of the group: HTTP %d %s", code, raw)
	}

	// 7. No body in the server's files, its log, the agent's log, the audit log.
	audit, err := e.m.Service().ListAudit(t.Context(), server.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	hookAudits := 0
	for _, a := range audit {
		if strings.Contains(a.Details, hookMarker) {
			t.Fatalf("audit %s holds a hook body: %s", a.Action, a.Details)
		}
		// A group's hook change is in its save's row ("hooks"), the
		// defaults' in host.hooks_updated.
		if a.Action == "host.hooks_updated" || (strings.HasPrefix(a.Action, "source_group.") && strings.Contains(a.Details, `"hooks":`)) {
			hookAudits++
			if !strings.Contains(a.Details, `"sha256":"`) && !strings.Contains(a.Details, `"cleared":true`) {
				t.Fatalf("hook audit without a hash: %s", a.Details)
			}
		}
	}
	if hookAudits < 5 {
		t.Fatalf("%d hook audit rows", hookAudits)
	}
	e.stopServer() // flush the WAL into the database file
	err = filepath.WalkDir(e.dataDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), hookMarker) {
			return fmt.Errorf("%s holds a hook body in plaintext", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, log := range map[string]string{"server": serverLog.String(), "agent": e.agentLogs()} {
		if strings.Contains(log, hookMarker) {
			t.Fatalf("the %s's log holds a hook body", name)
		}
		if !strings.Contains(log, "level=") && !strings.Contains(log, `"level"`) {
			t.Fatalf("the %s's log is empty: the check proves nothing", name)
		}
	}
}

func fileExists(path string) bool { _, err := os.Stat(path); return err == nil }

// TestHookTimeoutKillsProcessGroup (#10): a pre hook past its timeout is
// killed with everything it started (a child sleep is gone too), and the
// backup fails without restic; a cancel kills the group the same way and
// the post hook still runs, with RM_JOB_STATUS=canceled.
func TestHookTimeoutKillsProcessGroup(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "slow-hook")
	e.startAgent()
	if init := e.setReadyRepository(filepath.Join(e.dir, "repo"), repoPassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	pidFile := filepath.Join(e.dir, "child.pid")
	e.setGroup("files", map[string]any{"paths": []string{makeData(t, filepath.Join(e.dir, "files"), 1, 100)},
		"pre_hook": fmt.Sprintf("sleep 300 & echo $! > %q; wait", pidFile), "hook_timeout_seconds": 2})
	j, log := e.backup(map[string]any{"source_group": "files"})
	if j.Status != "failed" || !strings.Contains(j.Reason, "pre_hook timed out after 2s") || len(e.resticCalls("backup")) != 0 {
		t.Fatalf("backup with a hook past its timeout: %+v\n%s", j, log)
	}
	pid, err := strconv.Atoi(readTrim(t, pidFile))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the hook's child sleep to be gone", 10*time.Second, func() bool { return !processAlive(pid) })

	// Cancel while the pre hook runs: the group is killed the same way,
	// the job ends canceled, and the post hook runs with that status.
	status := filepath.Join(e.dir, "post-status")
	e.setGroup("files", map[string]any{"pre_hook": fmt.Sprintf("sleep 300 & echo $! > %q.2; wait", pidFile), "hook_timeout_seconds": 600,
		"post_hook": fmt.Sprintf("echo \"$RM_JOB_STATUS\" > %q", status), "paths": []string{filepath.Join(e.dir, "files")}})
	e.waitConfigApplied()
	id := e.runJob(map[string]any{"kind": "backup", "source_group": "files"})
	waitFor(t, "the pre hook's child", 30*time.Second, func() bool { return fileExists(pidFile + ".2") })
	if code := e.api().do("POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", id), nil, nil); code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("cancel: HTTP %d", code)
	}
	if j := e.waitJob(id, 60*time.Second); j.Status != "canceled" || len(e.resticCalls("backup")) != 0 {
		t.Fatalf("backup canceled in its pre hook: %+v\n%s", j, strings.Join(e.jobLog(id), "\n"))
	}
	pid, err = strconv.Atoi(readTrim(t, pidFile+".2"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the canceled hook's child sleep to be gone", 10*time.Second, func() bool { return !processAlive(pid) })
	if got := readTrim(t, status); got != "canceled" {
		t.Fatalf("post hook after a cancel wrote %q", got)
	}
}

// processAlive reports whether pid runs (a zombie waiting for its reaper
// counts as gone: it was killed).
func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// TestHookAgentKilledMidHook (#10): the agent killed while the pre hook
// runs reports the job interrupted after its restart, like a restic run;
// the post hook of that job never runs, then or later.
func TestHookAgentKilledMidHook(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "killed-mid-hook")
	e.startAgent()
	if init := e.setReadyRepository(filepath.Join(e.dir, "repo"), repoPassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	started, postRan := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "post-ran")
	data := makeData(t, filepath.Join(e.dir, "files"), 1, 100)
	e.setGroup("files", map[string]any{"paths": []string{data},
		"pre_hook": fmt.Sprintf("touch %q; sleep 20", started), "post_hook": fmt.Sprintf("touch %q", postRan)})
	e.waitConfigApplied()
	id := e.runJob(map[string]any{"kind": "backup", "source_group": "files"})
	waitFor(t, "the pre hook to start", 30*time.Second, func() bool { return fileExists(started) })
	e.agent.stop(syscall.SIGKILL)
	e.startAgent()
	if j := e.waitJob(id, 60*time.Second); j.Status != "interrupted" {
		t.Fatalf("job killed mid-hook: %+v\n%s", j, e.agentLogs())
	}
	// The next job runs (the agent went on) and the interrupted one's post hook never does.
	if j, log := e.backup(map[string]any{"paths": []string{data}}); j.Status != "succeeded" {
		t.Fatalf("next backup: %+v\n%s", j, log)
	}
	if fileExists(postRan) || len(e.resticCalls("backup")) != 1 {
		t.Fatalf("the interrupted job's post hook ran (%v) or its restic did (%v)", fileExists(postRan), e.resticCalls("backup"))
	}
}

// TestScheduledBackupRunsHooksWhileServerDown (#10): hooks travel in the
// config, so a scheduled backup runs them while the server is stopped;
// their lines reach the job's log once it is back.
func TestScheduledBackupRunsHooksWhileServerDown(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "branch-office")
	e.setAgentConfig("reconnect_backoff_max", "1s") // back a second after the server
	e.startAgent()
	repo := filepath.Join(e.dir, "repo")
	if init := e.setReadyRepository(repo, repoPassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	postFile := filepath.Join(e.dir, "post")
	data := makeData(t, filepath.Join(e.dir, "ledgers"), 2, 1024)
	slot, cron := nextSlot()
	e.setGroup("ledgers", map[string]any{"paths": []string{data}, "schedules": []map[string]any{{"cron": cron}},
		"pre_hook": "echo offline-pre", "post_hook": fmt.Sprintf("echo \"$RM_JOB_STATUS $RM_SNAPSHOT_ID\" > %q", postFile)})
	e.waitConfigApplied()
	lists := e.snapshotListsStored()
	e.stopServerBefore(slot)

	e.waitScheduledRunStored(slot, lists)
	if !fileExists(postFile) {
		t.Fatalf("the scheduled backup ran while the server was down without its post hook\n%s", e.agentLogs())
	}
	snaps := repoSnapshots(t, repo, repoPassword)
	if got := readTrim(t, postFile); len(snaps) != 1 || got != "succeeded "+snaps[0] {
		t.Fatalf("post hook wrote %q; repository holds %v", got, snaps)
	}
	e.startServerAgain()
	e.waitOnline(60 * time.Second)
	var j jobJSON
	waitFor(t, "the scheduled job recorded", 90*time.Second, func() bool {
		j = e.latestJob("backup")
		return j.terminal()
	})
	log := e.jobLog(j.ID)
	if j.Status != "succeeded" || j.ScheduledFor == nil || !slices.Contains(log, "hook: offline-pre") {
		t.Fatalf("scheduled job %+v\n%s", j, strings.Join(log, "\n"))
	}
}
