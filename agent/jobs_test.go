package agent_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/topics"
)

// The happy path of #3 on the agent's side: a repository set by config is
// initialised, a backup makes a snapshot that is listed, the log arrives
// whole, restic check passes, and a second init finds the repository
// ready.
func TestJobsInitBackupSnapshots(t *testing.T) {
	e := newJobEnv(t)
	e.repo = filepath.Join(t.TempDir(), "new-repo") // not there yet: init makes it
	a := e.startConfigured()

	initJob := e.srv.run(topics.JobSpec{Kind: topics.JobInit}, 1)
	ev := e.srv.waitTerminal(initJob)
	if ev.State != topics.JobSucceeded || !topics.ValidResticID(ev.Result.RepositoryID) || ev.Result.AlreadyInitialized ||
		ev.Result.ExitCode == nil || *ev.Result.ExitCode != 0 || ev.Result.ResticVersion == "" {
		t.Fatalf("init: %+v %+v", ev, ev.Result)
	}
	if got := states(e.srv.jobEvents(initJob)); !slices.Equal(got, []topics.JobState{topics.JobDelivered, topics.JobRunning, topics.JobSucceeded}) {
		t.Fatalf("init states %v", got)
	}
	checkVersions(t, e.srv.jobEvents(initJob))
	e.srv.waitLogContains(initJob, "created repository "+ev.Result.RepositoryID)

	src := newSource(t, 12, 256<<10)
	backup := e.srv.run(backupSpec(src), 1)
	ev = e.srv.waitTerminal(backup)
	res := ev.Result
	if ev.State != topics.JobSucceeded || len(res.SnapshotID) != 64 || res.Backup == nil || res.Backup.FilesNew != 12 ||
		*res.ExitCode != 0 || res.DurationMS <= 0 || res.StartedAt.IsZero() || res.LogLines == 0 {
		t.Fatalf("backup: %+v %+v", ev, res)
	}
	if evs := e.srv.jobEvents(backup); len(evs) != 3 || evs[0].Version != 2 || evs[1].Version != 3 || evs[2].Version != 4 {
		t.Fatalf("backup events %+v", evs)
	}
	lines := e.srv.waitLogComplete(backup)
	if uint64(len(lines)) != res.LogLines {
		t.Fatalf("log has %d lines, result says %d", len(lines), res.LogLines)
	}
	text := logText(lines)
	// The init job's terminal event goes out before it hands the host's one
	// restic slot on: a backup that arrives in between says it waited.
	waited := "agent: waiting for its turn: job " + initJob + " is running; this host runs one restic operation at a time\n"
	if want := "agent: restic " + res.ResticVersion + ": backup --json -- " + src + "\n"; !strings.HasPrefix(strings.TrimPrefix(text, waited), want) {
		t.Fatalf("backup log does not start with %q:\n%s", want, text)
	}
	// restic's summary is said in words, not logged as JSON.
	if want := "\nagent: snapshot " + res.SnapshotID[:8] + " saved: 12 new, 0 changed, 0 unmodified files; "; !strings.Contains(text, want) ||
		strings.Contains(text, "message_type") {
		t.Fatalf("backup log lacks %q or holds restic's JSON:\n%s", want, text)
	}
	// The snapshot list follows the terminal event, outside the job's log.
	if strings.Contains(text, "restic listed") || strings.Contains(text, "restic "+res.ResticVersion+": snapshots") {
		t.Fatalf("the listing after the backup is in its log:\n%s", text)
	}
	snaps := e.srv.waitReport(backup)
	if len(snaps) != 1 || snaps[0].ID != res.SnapshotID || !slices.Equal(snaps[0].Paths, []string{src}) {
		t.Fatalf("snapshot report %+v, want snapshot %s", snaps, res.SnapshotID)
	}
	for _, r := range e.srv.reportsOf(backup) {
		if r[0].Seq < ev.Seq {
			t.Fatalf("snapshot report (seq %d) stored before the backup's terminal event (seq %d)", r[0].Seq, ev.Seq)
		}
	}
	e.resticCmd("check")

	// A snapshots job reports the list as its whole point.
	list := e.srv.run(topics.JobSpec{Kind: topics.JobSnapshots}, 1)
	if ev := e.srv.waitTerminal(list); ev.State != topics.JobSucceeded {
		t.Fatalf("snapshots job: %+v", ev.Result)
	}
	if snaps := e.srv.waitReport(list); len(snaps) != 1 || snaps[0].ID != res.SnapshotID {
		t.Fatalf("snapshots job report %+v", snaps)
	}

	// Init again: the repository is there and opens with our password.
	again := e.srv.run(topics.JobSpec{Kind: topics.JobInit}, 1)
	if ev := e.srv.waitTerminal(again); ev.State != topics.JobSucceeded || !ev.Result.AlreadyInitialized {
		t.Fatalf("second init: %+v %+v", ev, ev.Result)
	}
	againLog := logText(e.srv.waitLogComplete(again))
	for _, want := range []string{"agent: a repository already exists at this location, so restic created none: restic never overwrites",
		"agent: the configured password opens it (repository ", "agent: to start afresh instead, clear the remote by hand"} {
		if !strings.Contains(againLog, want) {
			t.Fatalf("second init's log lacks %q:\n%s", want, againLog)
		}
	}

	// While it ran, the heartbeat listed the running job.
	e.srv.waitUntil("a status listing the backup as running", func() bool {
		for _, st := range e.srv.statuses {
			if slices.Contains(st.Running, backup) {
				return true
			}
		}
		return false
	})
	noSecrets(t, "agent log", a.logs.String())
	noSecrets(t, "job log", text)
}

// Restore of a snapshot into a temporary directory gives back the files.
func TestJobRestoreIntoTempDir(t *testing.T) {
	e := newJobEnv(t)
	e.startConfigured()
	src := newSource(t, 9, 300<<10)
	backup := e.srv.run(backupSpec(src), 1)
	snap := e.srv.waitTerminal(backup).Result.SnapshotID

	target := t.TempDir()
	restore := e.srv.run(topics.JobSpec{Kind: topics.JobRestore, Snapshot: snap, Target: target}, 1)
	ev := e.srv.waitTerminal(restore)
	if ev.State != topics.JobSucceeded || ev.Result.FilesRestored != 9 || ev.Result.BytesRestored == 0 {
		t.Fatalf("restore: %+v %+v", ev, ev.Result)
	}
	e.srv.waitLogContains(restore, "restored ")
	// restic restores the absolute path below the target.
	got := agenttest.TreeDigest(t, filepath.Join(target, src))
	if want := agenttest.TreeDigest(t, src); !maps.Equal(got, want) {
		t.Fatalf("restored %d files, want %d equal to the source", len(got), len(want))
	}
}

// A wrong repository password fails the job with restic's reason and exit
// code, and the password never shows.
func TestJobWrongPassword(t *testing.T) {
	e := newJobEnv(t)
	a := e.start()
	repo := e.repoConfig()
	repo.Password = "not-" + repoPassword[4:]
	e.srv.sendConfig(1, repo)
	src := newSource(t, 1, 1024)
	job := e.srv.run(backupSpec(src), 1)
	ev := e.srv.waitTerminal(job)
	if ev.State != topics.JobFailed || ev.Result.Reason != "wrong password" || ev.Result.ExitCode == nil || *ev.Result.ExitCode == 0 {
		t.Fatalf("wrong password: %+v %+v", ev, ev.Result)
	}
	if *ev.Result.ExitCode != 12 && *ev.Result.ExitCode != 1 { // 12 since restic 0.17.1
		t.Fatalf("exit code %d", *ev.Result.ExitCode)
	}
	text := logText(e.srv.waitLogComplete(job))
	if strings.Contains(a.logs.String(), repo.Password) || strings.Contains(text, repo.Password) {
		t.Fatal("the wrong password leaked into a log")
	}

	// Init finds the repository there and cannot open it: the log says
	// that nothing was overwritten and what to do.
	initJob := e.srv.run(topics.JobSpec{Kind: topics.JobInit}, 1)
	if ev := e.srv.waitTerminal(initJob); ev.State != topics.JobFailed || !ev.Result.AlreadyInitialized {
		t.Fatalf("init with the wrong password: %+v %+v", ev, ev.Result)
	}
	text = logText(e.srv.waitLogComplete(initJob))
	for _, want := range []string{"restic never overwrites an existing repository",
		"agent: the configured password does not open it (wrong password), so the job fails", "clear the remote by hand"} {
		if !strings.Contains(text, want) {
			t.Fatalf("init's log lacks %q:\n%s", want, text)
		}
	}
}

// A backup whose source paths partly do not exist makes a snapshot of the
// rest; restic exits 0, and the agent reports warning (see agent/doc.go).
func TestJobMissingSourceIsWarning(t *testing.T) {
	e := newJobEnv(t)
	e.startConfigured()
	src := newSource(t, 2, 2048)
	job := e.srv.run(backupSpec(src, filepath.Join(src, "no-such-dir")), 1)
	ev := e.srv.waitTerminal(job)
	if ev.State != topics.JobWarning || *ev.Result.ExitCode != 0 || ev.Result.SnapshotID == "" ||
		!strings.Contains(ev.Result.Reason, "do not exist") || ev.Result.ErrorCount != 0 {
		t.Fatalf("missing source: %+v %+v", ev, ev.Result)
	}
}

// Jobs that cannot run on this host fail before restic, with a reason.
func TestJobFailsBeforeRestic(t *testing.T) {
	e := newJobEnv(t)
	e.start()
	// No config yet: no repository.
	job := e.srv.run(topics.JobSpec{Kind: topics.JobSnapshots}, 0)
	ev := e.srv.waitTerminal(job)
	if ev.State != topics.JobFailed || ev.Result.ExitCode != nil || !strings.Contains(ev.Result.Reason, "no repository") {
		t.Fatalf("no repository: %+v %+v", ev, ev.Result)
	}
	if got := states(e.srv.jobEvents(job)); !slices.Equal(got, []topics.JobState{topics.JobDelivered, topics.JobFailed}) {
		t.Fatalf("states %v", got)
	}
	if text := logText(e.srv.waitLogComplete(job)); !strings.Contains(text, "agent: this host has no repository") {
		t.Fatalf("log:\n%s", text)
	}

	e.configure()
	missing := filepath.Join(t.TempDir(), "gone")
	for spec, want := range map[*topics.JobSpec]string{
		{Kind: topics.JobRestore, Snapshot: "latest", Target: missing}: "does not exist",
		{Kind: topics.JobBackup, Paths: []string{`C:\Users`}}:          "not absolute",
	} {
		job := e.srv.run(*spec, 1)
		ev := e.srv.waitTerminal(job)
		if ev.State != topics.JobFailed || ev.Result.ExitCode != nil || !strings.Contains(ev.Result.Reason, want) ||
			!strings.HasPrefix(ev.Result.Reason, "the job cannot run on this host") {
			t.Fatalf("%s: %+v %+v", spec.Kind, ev, ev.Result)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("the restore target was created")
	}
}

// Forget with a retention policy removes what the policy does not keep,
// reports how many and sends the new list; check reads a subset of the
// data.
func TestJobForgetAndCheck(t *testing.T) {
	e := newJobEnv(t)
	e.startConfigured()
	src := newSource(t, 2, 4096)
	first := e.srv.waitTerminal(e.srv.run(backupSpec(src), 1)).Result.SnapshotID
	if err := os.WriteFile(filepath.Join(src, "new.txt"), []byte("changed"), 0o600); err != nil {
		t.Fatal(err)
	}
	second := e.srv.waitTerminal(e.srv.run(backupSpec(src), 1)).Result.SnapshotID

	forget := e.srv.run(topics.JobSpec{Kind: topics.JobForget, Retention: &topics.Retention{Last: 1}, Prune: true}, 1)
	ev := e.srv.waitTerminal(forget)
	if ev.State != topics.JobSucceeded || ev.Result.SnapshotsRemoved != 1 {
		t.Fatalf("forget: %+v %+v", ev, ev.Result)
	}
	if snaps := e.srv.waitReport(forget); len(snaps) != 1 || snaps[0].ID != second || snaps[0].ID == first {
		t.Fatalf("after forget the list is %+v, want only %s", snaps, second)
	}
	if text := logText(e.srv.waitLogComplete(forget)); !strings.Contains(text, "[forget]") || !strings.Contains(text, "agent: forget removed 1 snapshot and kept 1") {
		t.Fatalf("forget log:\n%s", text)
	}

	check := e.srv.run(topics.JobSpec{Kind: topics.JobCheck, ReadDataSubset: "50%"}, 1)
	if ev := e.srv.waitTerminal(check); ev.State != topics.JobSucceeded || *ev.Result.ExitCode != 0 {
		t.Fatalf("check: %+v %+v", ev, ev.Result)
	}
	e.srv.waitLogContains(check, "check found no errors")
	if reports := e.srv.reportsOf(check); len(reports) != 0 {
		t.Fatalf("check sent a snapshot report: %+v", reports)
	}
}
