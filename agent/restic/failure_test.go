package restic

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	r, logs := newRunner(t)
	repo := initRepo(t, r)
	wrong := repo
	wrong.Password = "pw-Qv93-wrong-staple-horse"
	lines := &lineLog{}
	res := mustRun(t, r, Op{Kind: topics.JobSnapshots, Repository: wrong, OnLine: lines.add})
	if code := exitCode(t, ExitWrongPassword); res.Outcome != OutcomeFailed || res.Reason != ReasonWrongPassword || res.ExitCode != code {
		t.Fatalf("got outcome %s, reason %q, exit %d; want failed, %q, %d", res.Outcome, res.Reason, res.ExitCode, ReasonWrongPassword, code)
	}
	for _, where := range []string{lines.String(), logs.String(), res.Reason, res.Detail, strings.Join(res.Args, " ")} {
		for _, secret := range []string{wrong.Password, testPassword} {
			if strings.Contains(where, secret) {
				t.Errorf("a password leaked: %q", where)
			}
		}
	}
	if lines.String() == "" {
		t.Errorf("no output lines recorded; the leak check proved nothing")
	}
}

func TestMissingRepository(t *testing.T) {
	t.Parallel()
	r, _ := newRunner(t)
	for _, kind := range []topics.JobKind{topics.JobSnapshots, topics.JobBackup} {
		op := Op{Kind: kind, Repository: repoAt(filepath.Join(t.TempDir(), "nothing-here"))}
		if kind == topics.JobBackup {
			op.Backup.Paths = []string{t.TempDir()}
		}
		res := mustRun(t, r, op)
		if res.Outcome != OutcomeFailed || res.Reason != ReasonNoRepository || res.ExitCode != exitCode(t, ExitNoRepository) {
			t.Errorf("%s: got outcome %s, reason %q, exit %d", kind, res.Outcome, res.Reason, res.ExitCode)
		}
	}
}

// TestBackupWarnings: an unreadable file gives restic's exit 3; a source
// path that does not exist, which restic skips with exit 0, is a warning
// too.
func TestBackupWarnings(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("uses /proc/self/mem, a file that fails to read even for root")
	}
	r, _ := newRunner(t)
	repo := initRepo(t, r)
	src := t.TempDir()
	genTree(t, src, 5, 1024)
	missing := filepath.Join(src, "gone")

	// restic reads /proc/self/mem from offset 0, which is never mapped:
	// EIO, whoever runs it (root can read a chmod 000 file).
	res := mustRun(t, r, Op{Kind: topics.JobBackup, Repository: repo, Backup: BackupOptions{Paths: []string{src, "/proc/self/mem"}}})
	if res.Outcome != OutcomeWarning || res.ExitCode != ExitIncomplete || res.Reason != ReasonIncomplete {
		t.Fatalf("unreadable file: got outcome %s, exit %d, reason %q", res.Outcome, res.ExitCode, res.Reason)
	}
	if res.Summary == nil || res.Summary.SnapshotID == "" {
		t.Errorf("unreadable file: exit 3 still makes a snapshot, summary %+v", res.Summary)
	}
	if !slices.ContainsFunc(res.Errors, func(e ItemError) bool { return e.Item == "/proc/self/mem" && e.Message != "" }) {
		t.Errorf("unreadable file: errors %+v lack /proc/self/mem", res.Errors)
	}

	res = mustRun(t, r, Op{Kind: topics.JobBackup, Repository: repo, Backup: BackupOptions{Paths: []string{src, missing}}})
	if res.Outcome != OutcomeWarning || res.ExitCode != 0 || res.Reason != ReasonMissingSources {
		t.Fatalf("missing path: got outcome %s, exit %d, reason %q", res.Outcome, res.ExitCode, res.Reason)
	}
	if !slices.ContainsFunc(res.Errors, func(e ItemError) bool { return e.Item == missing }) {
		t.Errorf("missing path: errors %+v lack %s", res.Errors, missing)
	}
}

// TestLockedAndUnlock holds a lock with a real restic, sees an exclusive
// operation refused as locked, then kills the holder so its lock goes
// stale, and removes that with unlock (stale locks only).
func TestLockedAndUnlock(t *testing.T) {
	t.Parallel()
	r, _ := newRunner(t)
	repo := initRepo(t, r)

	// `backup --stdin` holds its (shared) lock until stdin closes.
	holder := exec.Command(r.Binary, "backup", "--stdin", "--stdin-filename=held")
	holder.Env = childEnv(r.Env, repo)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	waitFor(t, "the holder's lock", 30*time.Second, func() bool { return len(lockFiles(t, repo.URL)) > 0 })

	res := mustRun(t, r, Op{Kind: topics.JobPrune, Repository: repo})
	if res.Outcome != OutcomeFailed || res.Reason != ReasonLocked || res.ExitCode != exitCode(t, ExitLocked) {
		t.Fatalf("prune while locked: got outcome %s, reason %q, exit %d", res.Outcome, res.Reason, res.ExitCode)
	}

	// A SIGKILLed restic cannot remove its lock: it is now stale (its PID
	// is gone on this host), which is what plain unlock removes.
	_ = holder.Process.Kill()
	_ = holder.Wait()
	_ = stdin.Close()
	if len(lockFiles(t, repo.URL)) == 0 {
		t.Fatal("the killed holder left no lock; the test proves nothing")
	}
	if res := mustRun(t, r, Op{Kind: topics.JobUnlock, Repository: repo}); res.Outcome != OutcomeSucceeded {
		t.Fatalf("unlock: %+v", res)
	}
	if locks := lockFiles(t, repo.URL); len(locks) != 0 {
		t.Fatalf("unlock left locks %v", locks)
	}
	if res := mustRun(t, r, Op{Kind: topics.JobPrune, Repository: repo}); res.Outcome != OutcomeSucceeded {
		t.Fatalf("prune after unlock: %+v", res)
	}
}

// TestInitOnExistingWithWrongPassword: an existing repository only counts
// as initialised when our password opens it.
func TestInitOnExistingWithWrongPassword(t *testing.T) {
	t.Parallel()
	r, _ := newRunner(t)
	repo := initRepo(t, r)
	repo.Password = "pw-another-one-entirely"
	res := mustRun(t, r, Op{Kind: topics.JobInit, Repository: repo})
	if res.Outcome != OutcomeFailed || !res.AlreadyInitialized || res.Reason != ReasonWrongPassword {
		t.Fatalf("got outcome %s, already %v, reason %q", res.Outcome, res.AlreadyInitialized, res.Reason)
	}
}

func TestMissingBinary(t *testing.T) {
	t.Parallel()
	r := &Runner{Binary: filepath.Join(t.TempDir(), "no-restic")}
	_, err := r.Run(t.Context(), Op{Kind: topics.JobSnapshots, Repository: repoAt("/srv/repo")})
	if err == nil || !strings.Contains(err.Error(), "install restic") {
		t.Fatalf("got %v, want an error saying to install restic", err)
	}
}

// TestEnvironment checks what reaches restic through its environment: the
// repository, password and backend values, not a stray password file, and
// that secrets restic might print are scrubbed from the log lines.
func TestEnvironment(t *testing.T) {
	t.Parallel()
	bin := fakeBinary(t, `printf '%s\n' "repo=$RESTIC_REPOSITORY" "pw=$RESTIC_PASSWORD" "file=${RESTIC_PASSWORD_FILE-unset}" "key=$AWS_SECRET_ACCESS_KEY" "id=$AWS_ACCESS_KEY_ID" "region=$AWS_DEFAULT_REGION" "args=$*"`)
	r := &Runner{Binary: bin, Env: append(os.Environ(), "RESTIC_PASSWORD_FILE=/etc/elsewhere", "AWS_DEFAULT_REGION=base-region")}
	repo := Repository{URL: "s3:https://s3.example/bucket", Password: testPassword, Env: map[string]string{
		"AWS_SECRET_ACCESS_KEY": "secret-key-value-123", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_DEFAULT_REGION": "eu-west-1",
	}}
	lines := &lineLog{}
	res, err := r.Run(t.Context(), Op{Kind: topics.JobSnapshots, Repository: repo, OnLine: lines.add})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"stdout: repo=s3:https://s3.example/bucket", "stdout: pw=[redacted]", "stdout: file=unset",
		"stdout: key=[redacted]", "stdout: id=[redacted]", "stdout: region=eu-west-1", "stdout: args=snapshots --json",
	}, "\n")
	if got := lines.String(); got != want {
		t.Errorf("restic saw:\n%s\nwant:\n%s", got, want)
	}
	if res.Outcome != OutcomeSucceeded {
		t.Errorf("outcome %s", res.Outcome)
	}
}

// TestBinaryOutputNeverBreaksRun feeds the runner garbage on both streams.
func TestBinaryOutputNeverBreaksRun(t *testing.T) {
	t.Parallel()
	bin := fakeBinary(t, `printf '{"message_type":"summary","files_new":-1}\n{"message_type":"status","percent_done":"x"}\n\033[2Kplain\r\n{not json\n[1,2\n\000\001binary\n' ; head -c 100000 /dev/zero | tr '\0' 'x'; printf '{"message_type":"exit_error","code":"1"}' >&2; exit 1`)
	lines := &lineLog{}
	res, err := (&Runner{Binary: bin}).Run(t.Context(), Op{Kind: topics.JobBackup, Repository: repoAt("/srv/r"), Backup: BackupOptions{Paths: []string{"/srv"}}, OnLine: lines.add})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeFailed || res.Summary != nil || res.ExitCode != 1 {
		t.Errorf("got %+v", res)
	}
	for _, l := range strings.Split(lines.String(), "\n") {
		if len(l) > topics.MaxLogLine+len("stdout: ") {
			t.Errorf("line of %d bytes passed to OnLine", len(l))
		}
		if strings.ContainsAny(l, "\x00\x01\x1b\r") {
			t.Errorf("control characters in %q", l)
		}
	}
}
