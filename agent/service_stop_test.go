//go:build unix

package agent_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// The service manager stops the agent (Windows: a stop request or a
// shutdown, through the same program type as here) while a backup runs.
// Stop returns only once restic was asked to stop (it says so in the job's
// log), has removed its lock and the job is recorded interrupted; the next
// start of the agent reports it so.
func TestServiceStopStopsARunningBackupGracefully(t *testing.T) {
	e := newJobEnv(t)
	logs := newLogSink()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := agent.New(e.cfg, logger, append(fastOptions, agent.WithResticEnv("RESTIC_CACHE_DIR="+e.cache))...)
	if err != nil {
		t.Fatal(err)
	}
	prog := agent.NewServiceProgram(a.Run, logger, nil)
	if err := prog.Start(nil); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			prog.Stop(nil)
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	})
	e.waitHello(a.BootID())
	e.configure()
	// 4 MiB at 256 KiB/s: still running when Stop comes, however loaded the machine.
	job := e.srv.run(slowBackupSpec(newSource(t, 4, 4<<20)), 1)
	e.srv.waitBackingUp(job)

	if err := prog.Stop(nil); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if locks, _ := os.ReadDir(filepath.Join(e.repo, "locks")); len(locks) != 0 {
		t.Fatalf("Stop returned with %d restic lock(s) in the repository: restic was not stopped gracefully, or not waited for", len(locks))
	}
	if !strings.Contains(logs.String(), `msg="restic finished"`) || !strings.Contains(logs.String(), `msg="agent stopped"`) {
		t.Fatalf("Stop returned before restic and the agent had finished:\n%s", logs.String())
	}

	e.start()
	ev := e.srv.waitTerminal(job)
	if ev.State != topics.JobInterrupted {
		t.Fatalf("job after the service stopped: %+v %+v", ev, ev.Result)
	}
	if text := logText(e.srv.waitLogComplete(job)); !strings.Contains(text, "signal interrupt received") {
		t.Fatalf("restic did not get an interrupt; job log:\n%s", text)
	}
}

// A stop waits for restic's whole cancel grace (and then some), so that a
// restic slow to stop is killed by the agent and its job recorded, instead
// of running on unsupervised after the service reported stopped.
func TestServiceStopWaitsLongerThanResticsGrace(t *testing.T) {
	if agent.ServiceStopWait <= restic.DefaultCancelGrace+5*time.Second {
		t.Fatalf("the service waits %v for the agent to stop, restic may take %v to stop and be killed",
			agent.ServiceStopWait, restic.DefaultCancelGrace)
	}
}
