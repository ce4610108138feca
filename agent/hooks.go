package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// Pre/post backup hooks (#10). A backup job runs, in this order: the pre
// hook, restic (only if the pre hook succeeded), the post hook (always,
// with the job's state). Hooks come from the applied config
// (topics.Config.HooksFor: the group's own, else the host default), never
// from the job, so scheduled backups run them while the server is away.
//
// Each hook runs through the host's shell (/bin/sh -c; cmd.exe /C on
// Windows) in its own process group, which is killed as a whole when its
// timeout passes or the job is canceled (hooks_unix.go, hooks_windows.go).
// Every line it prints goes into the job's log, live and through the same
// outbox as restic's lines: stdout as "hook: <line>" (stream "out"),
// stderr as "hook: [stderr] <line>" (stream "err").
//
// Its environment is built from a short allow-list of the agent's own
// (PATH, HOME, locale, temp dirs, and on Windows the system variables) plus
// RM_JOB_ID, RM_JOB_KIND, RM_HOST_NAME, RM_SOURCE_GROUP and, for the post
// hook, RM_JOB_STATUS and RM_SNAPSHOT_ID — never the repository's password
// or any other variable the agent was started with.

// hookWaitDelay is how long a hook's output may stay open after its shell
// has exited or been killed (a background child holding stdout): then the
// agent stops reading and goes on.
const hookWaitDelay = 5 * time.Second

// hookOutcome is how one hook run ended.
type hookOutcome struct {
	ran      bool // a hook was configured and started
	exitCode int
	timedOut bool
	stopped  bool  // the job was canceled or the agent is stopping
	startErr error // the shell could not be started
}

func (o hookOutcome) failed() bool {
	return o.ran && (o.exitCode != 0 || o.timedOut || o.stopped || o.startErr != nil)
}

// describe is the one-sentence outcome of a failed hook, e.g.
// "pre_hook failed (exit 3)" or "pre_hook timed out after 10s".
func (o hookOutcome) describe(which string, timeout time.Duration) string {
	switch {
	case o.startErr != nil:
		return fmt.Sprintf("%s could not be started (%v)", which, o.startErr)
	case o.timedOut:
		return fmt.Sprintf("%s timed out after %s; its processes were killed", which, timeout)
	case o.stopped:
		return fmt.Sprintf("%s was stopped and its processes killed", which)
	}
	return fmt.Sprintf("%s failed (exit %d)", which, o.exitCode)
}

// backupHooks are the hooks a job runs and the variables they get.
type backupHooks struct {
	pre, post topics.HookRun
	env       []string // without RM_JOB_STATUS and RM_SNAPSHOT_ID
}

// hooksFor resolves the hooks of j from the applied config: none unless j
// is a backup.
func (a *Agent) hooksFor(j *job) backupHooks {
	cfg := a.desired.current()
	if cfg == nil || j.cmd.Spec == nil || j.cmd.Spec.Kind != topics.JobBackup {
		return backupHooks{}
	}
	group := j.cmd.Spec.SourceGroup
	pre, post := cfg.HooksFor(group)
	if pre.Body == "" && post.Body == "" {
		return backupHooks{}
	}
	groupName := ""
	for _, g := range cfg.SourceGroups {
		if g.ID == group {
			groupName = g.Name
		}
	}
	hostName := cfg.HostName
	if hostName == "" {
		hostName, _ = os.Hostname()
	}
	env := append(hookBaseEnv(os.Environ()), "RM_JOB_ID="+j.id, "RM_JOB_KIND="+string(j.cmd.Spec.Kind),
		"RM_HOST_NAME="+hostName, "RM_SOURCE_GROUP="+groupName)
	return backupHooks{pre: pre, post: post, env: env}
}

// hookEnvAllowed are the variables of the agent's own environment a hook
// inherits; everything else (RESTIC_PASSWORD, cloud keys, a service
// manager's secrets) stays out.
var hookEnvAllowed = map[string]bool{
	"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "SHELL": true, "LANG": true, "LANGUAGE": true,
	"TZ": true, "TMPDIR": true, "TEMP": true, "TMP": true, "TERM": true,
	// Windows: without these cmd.exe and most programs misbehave.
	"SYSTEMROOT": true, "SYSTEMDRIVE": true, "WINDIR": true, "COMSPEC": true, "PATHEXT": true, "USERPROFILE": true,
	"PROGRAMDATA": true, "PROGRAMFILES": true, "PROGRAMFILES(X86)": true, "APPDATA": true, "LOCALAPPDATA": true,
	"COMPUTERNAME": true, "USERNAME": true, "USERDOMAIN": true, "NUMBER_OF_PROCESSORS": true, "PROCESSOR_ARCHITECTURE": true, "OS": true,
}

// defaultHookPath is PATH when the agent has none (a bare service unit).
const defaultHookPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// hookBaseEnv keeps the allowed variables of base (and LC_*).
func hookBaseEnv(base []string) []string {
	var out []string
	hasPath := false
	for _, kv := range base {
		name, _, ok := strings.Cut(kv, "=")
		key := strings.ToUpper(name)
		if runtime.GOOS != "windows" {
			key = name
		}
		if !ok || !(hookEnvAllowed[key] || strings.HasPrefix(key, "LC_")) {
			continue
		}
		hasPath = hasPath || key == "PATH"
		out = append(out, kv)
	}
	if !hasPath && runtime.GOOS != "windows" {
		out = append(out, "PATH="+defaultHookPath)
	}
	return out
}

// runHook runs one hook for job j and waits for it, streaming its output
// into the job's log. ctx stops it (the hook's group is killed); so does
// its timeout.
func (a *Agent) runHook(ctx context.Context, j *job, which string, run topics.HookRun, env []string) hookOutcome {
	if run.Body == "" {
		return hookOutcome{}
	}
	from := "the host's default"
	if run.FromGroup {
		from = "the source group's"
	}
	j.log.agentf("running %s (%s, timeout %s)", which, from, run.Timeout)
	hctx, cancel := context.WithTimeout(ctx, run.Timeout)
	defer cancel()
	cmd, cleanup, err := hookCommand(hctx, run.Body, a.cfg.StateDir)
	if err != nil {
		return hookOutcome{ran: true, startErr: err}
	}
	defer cleanup()
	cmd.Env = env
	stdout := &hookLines{log: j.log, stream: topics.StreamStdout, prefix: topics.HookLinePrefix}
	stderr := &hookLines{log: j.log, stream: topics.StreamStderr, prefix: topics.HookStderrPrefix}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Cancel = func() error { return killHookGroup(cmd) }
	cmd.WaitDelay = hookWaitDelay
	if err := cmd.Start(); err != nil {
		return hookOutcome{ran: true, startErr: err}
	}
	waitErr := cmd.Wait()
	stdout.flush()
	stderr.flush()
	out := hookOutcome{ran: true}
	switch {
	case ctx.Err() != nil:
		out.stopped = true
	case errors.Is(hctx.Err(), context.DeadlineExceeded):
		out.timedOut = true
	case cmd.ProcessState != nil:
		out.exitCode = cmd.ProcessState.ExitCode()
	case waitErr != nil:
		out.startErr = waitErr
	}
	if !out.failed() {
		j.log.agentf("%s finished (exit 0)", which)
	}
	return out
}

// hookLines is a hook's stdout or stderr: it cuts the bytes into lines and
// adds each to the job's log with its prefix.
type hookLines struct {
	log    *jobLog
	stream string
	prefix string
	mu     sync.Mutex
	buf    []byte
}

// Write implements io.Writer.
func (w *hookLines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) >= topics.MaxLogLine {
		w.emit(w.buf)
		w.buf = nil
	}
	return len(p), nil
}

// flush adds a last line without a newline.
func (w *hookLines) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

func (w *hookLines) emit(line []byte) {
	w.log.add(w.stream, w.prefix+string(bytes.TrimRight(line, "\r")))
}

// preHookFailed is the end of a backup whose pre hook failed: restic never
// ran. A canceled job ends canceled, one the agent's stop cut short
// interrupted, any other failure failed with the hook's outcome as reason.
func (a *Agent) preHookFailed(j *job, out hookOutcome, timeout time.Duration) (topics.JobState, *topics.JobResult) {
	reason := out.describe(topics.PreHook, timeout)
	state := topics.JobFailed
	switch {
	case out.stopped && j.canceled.Load():
		state, reason = topics.JobCanceled, "canceled while the pre_hook ran; restic did not run"
	case out.stopped:
		state, reason = topics.JobInterrupted, "the agent was stopped while the pre_hook ran; restic did not run"
	}
	j.log.agentf("%s; restic did not run", reason)
	return state, &topics.JobResult{Reason: clipResultText(reason), StartedAt: j.startedAt}
}

// runPostHook runs the post hook after the backup, whatever its state,
// with RM_JOB_STATUS (and RM_SNAPSHOT_ID when a snapshot was made). Only a
// job cut short by the agent's stop skips it: the agent is going away, and
// an interrupted job's post hook is never run later either. A failing post
// hook adds a warning line and leaves the job's state as it is.
func (a *Agent) runPostHook(j *job, hooks backupHooks, state topics.JobState, result *topics.JobResult) {
	if hooks.post.Body == "" {
		return
	}
	if state == topics.JobInterrupted || a.stopping.Err() != nil {
		j.log.agentf("%s not run: the agent is stopping", topics.PostHook)
		return
	}
	env := append(append([]string{}, hooks.env...), "RM_JOB_STATUS="+string(state))
	if result != nil && result.SnapshotID != "" {
		env = append(env, "RM_SNAPSHOT_ID="+result.SnapshotID)
	}
	// Not the job's context: a canceled backup still runs its post hook.
	if out := a.runHook(a.stopping, j, topics.PostHook, hooks.post, env); out.failed() {
		j.log.agentf("warning: %s; the job stays %s", out.describe(topics.PostHook, hooks.post.Timeout), state)
	}
}
