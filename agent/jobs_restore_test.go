package agent_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// A cross-host restore's source credentials live in memory only (#14):
// the journal records the command without them, so an agent stopped
// before the restore ran comes back with a job that waits for the
// server's resend, which brings them again; then it runs. No file in the
// state directory but the host's own applied config ever holds the
// password (the test's source repository has the same one).
func TestCrossHostRestoreKeepsCredentialsInMemory(t *testing.T) {
	e := newJobEnv(t)
	a := e.startConfigured()
	source := &topics.RepositoryConfig{URL: newRepo(t), Password: repoPassword}
	backup := exec.Command(e.restic, "backup", "--json", newSource(t, 2, 4<<10))
	backup.Env = resticEnv(source.URL, e.cache)
	if out, err := backup.CombinedOutput(); err != nil {
		t.Fatalf("backup into the source repository: %v\n%s", err, out)
	}
	into := t.TempDir()

	busy := e.srv.run(slowBackupSpec(newSource(t, 4, 1<<20)), 1)
	e.srv.waitState(busy, topics.JobRunning)
	restore := e.srv.runCommand(topics.JobSpec{Kind: topics.JobRestore, Snapshot: "latest", Target: into,
		SourceHost: topics.RandomID(topics.HostIDPrefix)}, 1)
	restore.SourceRepository = source
	e.srv.send(topics.CmdTopic(e.h.id), restore)
	e.srv.waitState(restore.Job, topics.JobDelivered)
	a.stop(t)
	noPasswordInState(t, e.cfg.StateDir)

	e.start()
	e.srv.waitLogContains(restore.Job, "waiting for the server to send them again")
	again := *restore
	again.Envelope = topics.NewEnvelope(topics.TypeCmd, e.h.id) // the server's resend after hello
	e.srv.send(topics.CmdTopic(e.h.id), &again)
	if ev := e.srv.waitTerminal(restore.Job); ev.State != topics.JobSucceeded {
		t.Fatalf("restore after the resend: %+v %+v", ev, ev.Result)
	}
	if entries, _ := os.ReadDir(into); len(entries) == 0 {
		t.Fatal("the restore wrote nothing")
	}
	noPasswordInState(t, e.cfg.StateDir)
}

// noPasswordInState fails if a file of the agent's state directory other
// than its applied config holds the repository password.
func noPasswordInState(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || d.Name() == "desired_config.json" {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(repoPassword)) {
			t.Errorf("%s holds the repository password", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
