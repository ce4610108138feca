//go:build unix

package agent_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// The agent is killed with SIGKILL mid-backup, together with its restic
// (the whole process group: what a power cut or the OOM killer does to
// both). Restarted, it reports the job interrupted; the next backup first
// removes the stale lock restic left (plain `restic unlock`, in its log)
// and succeeds.
func TestKilledAgentReportsInterruptedAndNextBackupSucceeds(t *testing.T) {
	e := newJobEnv(t)
	child := e.startChild()
	e.configure()
	src := newSource(t, 4, 1<<20)
	job := e.srv.run(slowBackupSpec(src), 1)
	e.srv.waitBackingUp(job)
	child.kill(true)
	// restic's unlock counts a lock as stale once its process is gone; a
	// killed process whose parent died lingers until init reaps it.
	deadline := time.Now().Add(jobTimeout)
	for syscall.Kill(-child.cmd.Process.Pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the killed processes were never reaped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if locks, _ := os.ReadDir(filepath.Join(e.repo, "locks")); len(locks) == 0 {
		t.Fatal("the killed restic left no lock: the test does not test the unlock")
	}

	a := e.start()
	ev := e.srv.waitTerminal(job)
	if ev.State != topics.JobInterrupted || ev.Version != 4 || !strings.Contains(ev.Result.Reason, "the agent stopped while restic ran") ||
		ev.Result.StartedAt.IsZero() {
		t.Fatalf("killed job: %+v %+v", ev, ev.Result)
	}
	if text := logText(e.srv.waitLogComplete(job)); !strings.Contains(text, "agent: the agent stopped while restic ran") {
		t.Fatalf("killed job's log:\n%s", text)
	}

	next := e.srv.run(backupSpec(src), 1)
	ev = e.srv.waitTerminal(next)
	if ev.State != topics.JobSucceeded || ev.Result.SnapshotID == "" {
		t.Fatalf("next backup: %+v %+v", ev, ev.Result)
	}
	text := logText(e.srv.waitLogComplete(next))
	for _, want := range []string{"agent: an earlier restic run may have left a stale lock", "running `restic unlock` first",
		"out: successfully removed 1 locks", "agent: restic unlock finished"} {
		if !strings.Contains(text, want) {
			t.Fatalf("next backup's log lacks %q:\n%s", want, text)
		}
	}
	if locks, _ := os.ReadDir(filepath.Join(e.repo, "locks")); len(locks) != 0 {
		t.Fatalf("%d locks left in the repository", len(locks))
	}
	// The snapshot listing after the backup holds the mark while it runs.
	e.srv.waitReport(next)
	if _, err := os.Stat(filepath.Join(e.cfg.StateDir, "stale_lock")); !os.IsNotExist(err) {
		t.Fatalf("stale-lock mark still there: %v", err)
	}
	e.resticCmd("check")
	noSecrets(t, "agent log", a.logs.String()+child.stderr.String())
}

// childAgent is an agent in a child process (the test binary with childEnv
// set) in its own process group, so that a test can SIGKILL it.
type childAgent struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer // read only after kill
	killed bool
}

// startChild starts an agent from e.cfg in a child process and waits for
// its hello. Cleanup kills its whole process group and, if the test
// failed, shows its log.
func (e *jobEnv) startChild() *childAgent {
	e.t.Helper()
	path := filepath.Join(e.t.TempDir(), "agent.yaml")
	if err := e.cfg.SaveConfig(path); err != nil {
		e.t.Fatal(err)
	}
	c := &childAgent{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	c.cmd.Env = append(os.Environ(), childEnv+"="+path, "RESTIC_CACHE_DIR="+e.cache)
	c.cmd.Stderr = &c.stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		c.kill(true)
		if e.t.Failed() {
			e.t.Logf("killed agent's log:\n%s", c.stderr.String())
		}
	})
	e.srv.waitUntil("the child agent's hello", func() bool { return len(e.srv.hellos) > 0 })
	return c
}

// kill sends SIGKILL to the agent, with its restic if group is set (what
// a power cut does to both), and waits for the agent to end.
func (c *childAgent) kill(group bool) {
	if c.killed {
		return
	}
	c.killed = true
	pid := c.cmd.Process.Pid
	if group {
		pid = -pid
	}
	syscall.Kill(pid, syscall.SIGKILL)
	c.cmd.Wait()
}

// waitBackingUp waits until job runs and restic has reported progress.
func (s *jobServer) waitBackingUp(job string) {
	s.t.Helper()
	s.waitState(job, topics.JobRunning)
	s.waitUntil("progress from restic", func() bool {
		for _, p := range s.progress {
			if p.Job == job && p.BytesDone > 0 {
				return true
			}
		}
		return false
	})
}
