//go:build unix

package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/topics"
)

// The snapshot list after a backup follows its terminal event. If listing
// fails, the backup's outcome stands and the list is sent after the next
// job, still naming the backup.
func TestSnapshotListFailureLeavesJobAndIsRetried(t *testing.T) {
	e := newJobEnv(t)
	e.cfg.ResticBinary = failFirstSnapshots(t, e.restic)
	a := e.startConfigured()

	backup := e.srv.run(backupSpec(newSource(t, 2, 4096)), 1)
	if ev := e.srv.waitTerminal(backup); ev.State != topics.JobSucceeded {
		t.Fatalf("backup: %+v %+v", ev, ev.Result)
	}
	check := e.srv.run(topics.JobSpec{Kind: topics.JobCheck}, 1)
	if ev := e.srv.waitTerminal(check); ev.State != topics.JobSucceeded {
		t.Fatalf("check: %+v %+v", ev, ev.Result)
	}
	if snaps := e.srv.waitReport(backup); len(snaps) != 1 {
		t.Fatalf("report after the retry: %+v", snaps)
	}
	if reports := e.srv.reportsOf(check); len(reports) != 0 {
		t.Fatalf("the retry's report names the check: %+v", reports)
	}
	if logs := a.logs.String(); !strings.Contains(logs, "could not list the snapshots; trying again after the next job") {
		t.Fatalf("agent log lacks the failed listing:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(e.cfg.StateDir, "stale_lock")); !os.IsNotExist(err) {
		t.Fatalf("the stale-lock mark set for the listing is still there: %v", err)
	}
	if evs := e.srv.jobEvents(backup); len(evs) != 3 {
		t.Fatalf("backup events after the failed listing: %v", states(evs))
	}
}

// failFirstSnapshots writes a restic wrapper whose first `snapshots` fails
// (exit 1, as restic does for a fatal error); everything else runs the
// real restic.
func failFirstSnapshots(t *testing.T, restic string) string {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "restic")
	body := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = snapshots ] && [ ! -e %q ]; then : > %q; echo 'Fatal: simulated failure' >&2; exit 1; fi\nexec %q \"$@\"\n",
		filepath.Join(dir, "failed"), filepath.Join(dir, "failed"), restic)
	agenttest.WriteExecutable(t, script, body)
	return script
}
