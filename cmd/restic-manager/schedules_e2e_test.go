package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/agenttest"
)

// groupJSON is a source group as the API shows it.
type groupJSON struct {
	ID        int64  `json:"id"`
	Key       string `json:"key"`
	Name      string `json:"name"`
	Schedules []struct {
		ID   int64  `json:"id"`
		Cron string `json:"cron"`
	} `json:"schedules"`
}

// createGroup creates a source group through the API.
func (e *jobEnv) createGroup(body map[string]any) groupJSON {
	e.t.Helper()
	var g groupJSON
	if code := e.api().do("POST", "/api/v1/hosts/"+e.hostID+"/source-groups", body, &g); code != http.StatusCreated {
		code, raw := e.api().send("POST", "/api/v1/hosts/"+e.hostID+"/source-groups", body)
		e.t.Fatalf("create source group: HTTP %d %s", code, raw)
	}
	return g
}

// waitConfigApplied waits until the agent reports the host's desired config.
func (e *jobEnv) waitConfigApplied() {
	e.t.Helper()
	waitFor(e.t, "config applied", 30*time.Second, func() bool {
		st, err := e.m.Service().GetConfigStatus(e.t.Context(), e.hostID)
		return err == nil && !st.Pending && st.Applied > 0
	})
}

// scheduleLead is how far ahead a test schedules a run that must happen
// while the server is down: room for the config's round trip to the agent
// and the server's stop on a loaded machine.
const scheduleLead = 8 * time.Second

// nextSlot is the first whole minute (UTC) at least scheduleLead away, and
// a daily cron expression for it: 8-68 s away, 38 on average.
func nextSlot() (time.Time, string) {
	slot := time.Now().UTC().Add(scheduleLead).Truncate(time.Minute).Add(time.Minute)
	return slot, fmt.Sprintf("%d %d * * *", slot.Minute(), slot.Hour())
}

// stopServerBefore stops the server ahead of a schedule's slot, so that the
// run at the slot is one the agent makes while the server is down; it fails
// the test if the setup took past the slot.
func (e *jobEnv) stopServerBefore(slot time.Time) {
	e.t.Helper()
	e.stopServer()
	if late := time.Since(slot); late >= 0 {
		e.t.Fatalf("the server stopped %s after the slot %s: setting the schedule up took longer than scheduleLead (%s)", late, slot, scheduleLead)
	}
}

// snapshotListsStored counts the snapshot lists the agent has stored for
// the server: it stores one after each job that made a snapshot, once the
// job's result is in its outbox.
func (e *jobEnv) snapshotListsStored() int {
	return strings.Count(e.agentLogs(), "sent the snapshot list to the server")
}

// waitScheduledRunStored waits, while the server is down, until the agent
// ran the backup scheduled for slot and stored its result and snapshot
// list in its outbox (the agent's listsBefore-th list and one more).
func (e *jobEnv) waitScheduledRunStored(slot time.Time, listsBefore int) {
	e.t.Helper()
	waitFor(e.t, "the scheduled backup to run while the server is down", time.Until(slot)+90*time.Second, func() bool {
		return e.snapshotListsStored() > listsBefore
	})
}

// TestScheduledBackupWhileServerDown (#4): a backup scheduled for the next
// minute runs on the agent while the server is stopped; after the server
// restarts, that job, its whole log and its snapshot are recorded exactly
// once, attributed to the schedule.
func TestScheduledBackupWhileServerDown(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "remote-shop")
	// Back a second after the server rather than up to the default 30 s.
	e.setAgentConfig("reconnect_backoff_max", "1s")
	e.startAgent()
	repo := filepath.Join(e.dir, "repo")
	if init := e.setReadyRepository(repo, repoPassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	data := makeData(t, filepath.Join(e.dir, "documents"), 8, 4096)
	slot, cron := nextSlot()
	g := e.createGroup(map[string]any{"name": "documents", "paths": []string{data},
		"schedules": []map[string]any{{"cron": cron}}})
	if len(g.Schedules) != 1 {
		t.Fatalf("group with a schedule: %+v", g)
	}
	e.waitConfigApplied()
	lists := e.snapshotListsStored()
	e.stopServerBefore(slot)

	e.waitScheduledRunStored(slot, lists)
	if snaps := repoSnapshots(t, repo, repoPassword); len(snaps) != 1 {
		t.Fatalf("the repository holds %v after the scheduled backup; want one snapshot", snaps)
	}
	e.startServerAgain()
	e.waitOnline(60 * time.Second)

	var j jobJSON
	waitFor(t, "the scheduled job recorded", 90*time.Second, func() bool {
		j = e.latestJob("backup")
		return j.terminal()
	})
	if j.ScheduleID != g.Schedules[0].ID || j.ScheduledFor == nil || !j.ScheduledFor.Equal(slot) {
		t.Fatalf("scheduled job %+v; want schedule %d for %s", j, g.Schedules[0].ID, slot)
	}
	e.checkExactlyOnce(j.ID, repo, 0)
	if n := e.countJobs(); n != 2 { // the init and the one scheduled backup
		t.Fatalf("%d jobs; want the init and exactly one scheduled backup", n)
	}
}

// TestGroupsBandwidthAndRetentionPreview (#4): backups of a source group
// carry the group's tag and the host's upload cap (a per-run override
// wins); the retention preview lists exactly what `restic forget
// --dry-run` would remove, and removes nothing.
func TestGroupsBandwidthAndRetentionPreview(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "accounting")
	e.startAgent()
	repo := filepath.Join(e.dir, "repo")
	if init := e.setReadyRepository(repo, repoPassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	data := makeData(t, filepath.Join(e.dir, "ledgers"), 4, 2048)
	g := e.createGroup(map[string]any{"name": "ledgers", "paths": []string{data}, "tags": []string{"finance"}})
	if code := e.api().do("PUT", "/api/v1/hosts/"+e.hostID+"/bandwidth", map[string]any{"up_kbps": 7777}, nil); code != http.StatusOK {
		t.Fatalf("set bandwidth: HTTP %d", code)
	}
	e.waitConfigApplied()

	// Neither paths nor a group: refused.
	if code := e.api().doRaw("POST", "/api/v1/hosts/"+e.hostID+"/jobs", map[string]any{"kind": "backup"}, nil); code != http.StatusBadRequest {
		t.Fatalf("backup without paths or group: HTTP %d", code)
	}
	var snaps []string
	for i, body := range []map[string]any{
		{"kind": "backup", "source_group": "ledgers"},
		{"kind": "backup", "source_group": g.Key, "bandwidth_up_kbps": 5555},
		{"kind": "backup", "source_group": fmt.Sprint(g.ID)},
	} {
		j := e.waitJob(e.runJob(body), 60*time.Second)
		if j.Status != "succeeded" {
			t.Fatalf("backup %d of the group: %+v", i, j)
		}
		snaps = append(snaps, j.SnapshotID)
		time.Sleep(1100 * time.Millisecond) // distinct snapshot times
	}
	calls := e.resticCalls("backup")
	if len(calls) != 3 || !strings.Contains(calls[0], "--limit-upload=7777") ||
		!strings.Contains(calls[1], "--limit-upload=5555") || strings.Contains(calls[1], "7777") {
		t.Fatalf("restic backup command lines (host cap 7777, override 5555 on the second):\n%s", strings.Join(calls, "\n"))
	}
	for _, c := range calls {
		if !strings.Contains(c, "rm-group:"+g.Key) || !strings.Contains(c, "finance") {
			t.Fatalf("backup of the group lacks its tags: %s", c)
		}
	}

	// Preview keep-last 1: the two older snapshots would go.
	var preview jobJSON
	if code := e.api().do("POST", "/api/v1/hosts/"+e.hostID+"/source-groups/ledgers/retention-preview",
		map[string]any{"retention": map[string]any{"last": 1}}, &preview); code != http.StatusCreated {
		t.Fatalf("retention preview: HTTP %d", code)
	}
	p := e.waitJob(preview.ID, 60*time.Second)
	if p.Status != "succeeded" || p.Summary == nil {
		t.Fatalf("preview job: %+v", p)
	}
	direct := exec.Command(agenttest.RequireBinary(t, "restic"), "forget", "--dry-run", "--json", "--keep-last", "1", "--tag", "rm-group:"+g.Key)
	direct.Env = append(os.Environ(), "RESTIC_REPOSITORY="+repo, "RESTIC_PASSWORD="+repoPassword)
	out, err := direct.Output()
	if err != nil {
		t.Fatalf("restic forget --dry-run: %v", err)
	}
	var groups []struct {
		Remove []struct {
			ID string `json:"id"`
		} `json:"remove"`
	}
	if err := json.Unmarshal(out, &groups); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, gr := range groups {
		for _, r := range gr.Remove {
			want = append(want, r.ID)
		}
	}
	got := slices.Clone(p.Summary.WouldRemove)
	slices.Sort(got)
	slices.Sort(want)
	if len(want) != 2 || !slices.Equal(got, want) || slices.Contains(got, snaps[2]) {
		t.Fatalf("preview would remove %v; restic forget --dry-run removes %v (newest %s must stay)", got, want, snaps[2])
	}
	if n := len(repoSnapshots(t, repo, repoPassword)); n != 3 {
		t.Fatalf("the preview removed snapshots: %d left", n)
	}
}
