package restic

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

func TestValidateRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	repo := repoAt("/srv/restic")
	backup := func(o BackupOptions) Op { return Op{Kind: topics.JobBackup, Repository: repo, Backup: o} }
	forget := func(r topics.Retention) Op {
		return Op{Kind: topics.JobForget, Repository: repo, Forget: ForgetOptions{Retention: r}}
	}
	restore := func(o RestoreOptions) Op { return Op{Kind: topics.JobRestore, Repository: repo, Restore: o} }
	paths := BackupOptions{Paths: []string{"/home"}}
	// foreign is absolute for topics (either OS) but not on this host.
	foreign := `C:\Users`
	if runtime.GOOS == "windows" {
		foreign = "/home"
	}
	for _, tc := range []struct {
		name string
		op   Op
		want string // part of the error message
	}{
		{"unknown kind", Op{Kind: "destroy", Repository: repo}, "unknown job kind"},
		{"empty URL", Op{Kind: topics.JobSnapshots, Repository: Repository{Password: "x"}}, "neither an absolute local path"},
		{"relative URL", Op{Kind: topics.JobSnapshots, Repository: Repository{URL: "repo", Password: "x"}}, "neither an absolute local path"},
		{"relative local:", Op{Kind: topics.JobSnapshots, Repository: Repository{URL: "local:repo", Password: "x"}}, "neither an absolute local path"},
		{"bare scheme", Op{Kind: topics.JobSnapshots, Repository: Repository{URL: "s3:", Password: "x"}}, "neither an absolute local path"},
		{"newline in URL", Op{Kind: topics.JobSnapshots, Repository: Repository{URL: "/srv/r\n", Password: "x"}}, "neither an absolute local path"},
		{"no password", Op{Kind: topics.JobSnapshots, Repository: Repository{URL: "/srv/r"}}, "password is empty"},
		{"newline in password", Op{Kind: topics.JobSnapshots, Repository: Repository{URL: "/srv/r", Password: "a\nb"}}, "line break"},
		{"env LD_PRELOAD", Op{Kind: topics.JobSnapshots, Repository: Repository{URL: "/srv/r", Password: "x", Env: map[string]string{"LD_PRELOAD": "/x.so"}}}, "not allowed"},
		{"env password file", Op{Kind: topics.JobSnapshots, Repository: Repository{URL: "/srv/r", Password: "x", Env: map[string]string{"RESTIC_PASSWORD_FILE": "/p"}}}, "not allowed"},
		{"env lower case", Op{Kind: topics.JobSnapshots, Repository: Repository{URL: "/srv/r", Password: "x", Env: map[string]string{"aws_secret_access_key": "k"}}}, "not allowed"},
		{"env bare prefix", Op{Kind: topics.JobSnapshots, Repository: Repository{URL: "/srv/r", Password: "x", Env: map[string]string{"AWS_": "k"}}}, "not allowed"},
		{"env NUL value", Op{Kind: topics.JobSnapshots, Repository: Repository{URL: "/srv/r", Password: "x", Env: map[string]string{"B2_ACCOUNT_KEY": "a\x00b"}}}, "NUL"},
		{"negative bandwidth", Op{Kind: topics.JobSnapshots, Repository: repo, Bandwidth: topics.Bandwidth{UpKBps: -1}}, "bandwidth"},
		{"backup without paths", backup(BackupOptions{}), "at least one path"},
		{"relative backup path", backup(BackupOptions{Paths: []string{"home"}}), "must be an absolute path"},
		{"NUL in backup path", backup(BackupOptions{Paths: []string{"/ho\x00me"}}), "control characters"},
		{"empty exclude", backup(BackupOptions{Paths: []string{"/home"}, Excludes: []string{""}}), "empty exclude"},
		{"missing exclude file", backup(BackupOptions{Paths: []string{"/home"}, ExcludeFiles: []string{filepath.Join(dir, "nope")}}), "does not exist"},
		{"exclude file is a dir", backup(BackupOptions{Paths: []string{"/home"}, ExcludeFiles: []string{dir}}), "not a regular file"},
		{"tag with comma", backup(BackupOptions{Paths: []string{"/home"}, Tags: []string{"a,b"}}), "tag"},
		{"empty tag", backup(BackupOptions{Paths: []string{"/home"}, Tags: []string{""}}), "tag"},
		{"host with space", backup(BackupOptions{Paths: []string{"/home"}, Host: "a b"}), "host"},
		{"empty retention", forget(topics.Retention{}), "retention sets no rule"},
		{"negative keep", forget(topics.Retention{Daily: -1}), "retention daily"},
		{"huge keep", forget(topics.Retention{Last: 1 << 30}), "retention last"},
		{"bad within", forget(topics.Retention{Within: "7 days"}), "not a restic duration"},
		{"weeks in within", forget(topics.Retention{Within: "4w"}), "not a restic duration"},
		{"bad keep tag", forget(topics.Retention{Tags: []string{" x"}}), "retention tags"},
		{"tag filter with comma", Op{Kind: topics.JobForget, Repository: repo, Forget: ForgetOptions{Retention: topics.Retention{Last: 1}, FilterTags: []string{"a,b"}}}, "filter tags"},
		{"tag filter on backup", Op{Kind: topics.JobBackup, Repository: repo, Backup: BackupOptions{Paths: []string{"/home"}}, Forget: ForgetOptions{FilterTags: []string{"a"}}}, "belong to a forget job, not backup"},
		{"bad subset", Op{Kind: topics.JobCheck, Repository: repo, Check: CheckOptions{ReadDataSubset: "110%"}}, "read_data_subset"},
		{"subset n>t", Op{Kind: topics.JobCheck, Repository: repo, Check: CheckOptions{ReadDataSubset: "6/5"}}, "read_data_subset"},
		{"subset zero", Op{Kind: topics.JobCheck, Repository: repo, Check: CheckOptions{ReadDataSubset: "0%"}}, "read_data_subset"},
		{"restore bad ID", restore(RestoreOptions{SnapshotID: "xyz", Target: dir}), "snapshot id"},
		{"restore relative target", restore(RestoreOptions{SnapshotID: "latest", Target: "out"}), "absolute"},
		{"restore missing target", restore(RestoreOptions{SnapshotID: "latest", Target: filepath.Join(dir, "nope")}), "does not exist"},
		{"restore target is a file", restore(RestoreOptions{SnapshotID: "latest", Target: file}), "not a directory"},
		{"restore no target", restore(RestoreOptions{SnapshotID: "latest"}), "restore needs a target"},
		{"backup options on forget", Op{Kind: topics.JobForget, Repository: repo, Backup: paths, Forget: ForgetOptions{Retention: topics.Retention{Last: 1}}}, "belong to a backup job, not forget"},
		{"forget options on prune", Op{Kind: topics.JobPrune, Repository: repo, Forget: ForgetOptions{DryRun: true}}, "belong to a forget job, not prune"},
		{"check options on backup", Op{Kind: topics.JobBackup, Repository: repo, Backup: paths, Check: CheckOptions{ReadDataSubset: "1/2"}}, "belongs to a check job, not backup"},
		// #12: restic refuses these; the server's rule (topics) did not.
		{"subset 0/5", Op{Kind: topics.JobCheck, Repository: repo, Check: CheckOptions{ReadDataSubset: "0/5"}}, "read_data_subset"},
		{"subset 5/3", Op{Kind: topics.JobCheck, Repository: repo, Check: CheckOptions{ReadDataSubset: "5/3"}}, "read_data_subset"},
		{"subset bare number", Op{Kind: topics.JobCheck, Repository: repo, Check: CheckOptions{ReadDataSubset: "500"}}, "read_data_subset"},
		{"within zero", forget(topics.Retention{Within: "1d0d"}), "zero"},
		{"dry run prune", Op{Kind: topics.JobForget, Repository: repo, Forget: ForgetOptions{Retention: topics.Retention{Last: 1}, DryRun: true, Prune: true}}, "dry run cannot prune"},
		{"other OS's path", backup(BackupOptions{Paths: []string{foreign}}), "not absolute on this host"},
		{"other OS's target", restore(RestoreOptions{SnapshotID: "latest", Target: foreign}), "not an absolute path on this host"},
		{"other OS's repository", Op{Kind: topics.JobSnapshots, Repository: repoAt(foreign)}, "neither an absolute local path"},
		{"host on check", Op{Kind: topics.JobCheck, Repository: repo, Forget: ForgetOptions{Host: "a"}}, "forget options are set on a check"},
		{"restore options on unlock", Op{Kind: topics.JobUnlock, Repository: repo, Restore: RestoreOptions{Target: dir}}, "belong to a restore job, not unlock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op.Validate()
			if !errors.Is(err, ErrInvalidOp) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalidOp mentioning %q", err, tc.want)
			}
			if _, err := Args(tc.op); !errors.Is(err, ErrInvalidOp) {
				t.Fatalf("Args accepted it: %v", err)
			}
		})
	}
}

// TestInvalidOpNotRun: Run refuses an invalid op before starting anything.
func TestInvalidOpNotRun(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "ran")
	bin := fakeBinary(t, "touch '"+marker+"'\n")
	_, err := (&Runner{Binary: bin}).Run(t.Context(), Op{Kind: topics.JobBackup, Repository: repoAt("/srv/r")})
	if !errors.Is(err, ErrInvalidOp) {
		t.Fatalf("got %v, want ErrInvalidOp", err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("restic was started for an invalid op")
	}
}

func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, op := range []Op{
		{Kind: topics.JobInit, Repository: Repository{URL: "sftp:backup@host:/srv/restic", Password: "x"}},
		{Kind: topics.JobInit, Repository: Repository{URL: "rest:https://u:p@host:8000/", Password: "x", Env: map[string]string{"RESTIC_REST_USERNAME": "u"}}},
		{Kind: topics.JobInit, Repository: Repository{URL: "local:/srv/r", Password: "x"}},
		{Kind: topics.JobSnapshots, Repository: Repository{URL: "s3:https://s3.amazonaws.com/b", Password: "x", Env: map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}}},
		{Kind: topics.JobSnapshots, Repository: Repository{URL: "b2:bucket:path", Password: "x", Env: map[string]string{"B2_ACCOUNT_ID": "a", "B2_ACCOUNT_KEY": "b"}}},
		{Kind: topics.JobForget, Repository: repoAt("/r"), Forget: ForgetOptions{Retention: topics.Retention{Within: "1y2m3d4h"}}},
		{Kind: topics.JobForget, Repository: repoAt("/r"), Forget: ForgetOptions{Retention: topics.Retention{Within: "7d1y"}}}, // #12: restic takes units in any order
		{Kind: topics.JobForget, Repository: repoAt("/r"), Forget: ForgetOptions{Retention: topics.Retention{Tags: []string{"keep-me"}}, Prune: true, Host: "web-1"}},
		{Kind: topics.JobCheck, Repository: repoAt("/r"), Check: CheckOptions{ReadDataSubset: "2/5"}},
		{Kind: topics.JobCheck, Repository: repoAt("/r"), Check: CheckOptions{ReadDataSubset: "2.5%"}},
		{Kind: topics.JobCheck, Repository: repoAt("/r"), Check: CheckOptions{ReadDataSubset: "500M"}},
		{Kind: topics.JobRestore, Repository: repoAt("/r"), Restore: RestoreOptions{SnapshotID: "0123abcd", Target: dir}},
	} {
		if err := op.Validate(); err != nil {
			t.Errorf("%s %v: %v", op.Kind, op.Repository, err)
		}
	}
}

func TestRepositoryNeverPrintsSecrets(t *testing.T) {
	t.Parallel()
	r := Repository{URL: "rest:https://user:hunter2-secret@host/", Password: testPassword, Env: map[string]string{"AWS_SECRET_ACCESS_KEY": "aws-secret-value"}}
	for _, s := range []string{r.String(), r.LogValue().String()} {
		for _, secret := range []string{"hunter2-secret", testPassword, "aws-secret-value"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q shows %q", s, secret)
			}
		}
	}
	bad := Op{Kind: topics.JobSnapshots, Repository: Repository{URL: "rest:https://user:hunter2-secret@host/\n", Password: "a\nb-" + testPassword}}
	if err := bad.Validate(); err == nil || strings.Contains(err.Error(), "hunter2-secret") || strings.Contains(err.Error(), testPassword) {
		t.Errorf("validation error shows a secret: %v", err)
	}
	if got := RedactURL(r.URL); got != "rest:https://user:***@host/" {
		t.Errorf("RedactURL = %q", got)
	}
	if got := RedactURL("sftp:user@host:/srv"); got != "sftp:user@host:/srv" {
		t.Errorf("RedactURL changed a URL without password: %q", got)
	}
}
