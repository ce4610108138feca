package restic

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

func TestArgs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	excl := filepath.Join(dir, "excludes")
	if err := os.WriteFile(excl, []byte("*.iso\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	repo := Repository{URL: "s3:https://s3.example/bucket", Password: testPassword, Env: map[string]string{"AWS_SECRET_ACCESS_KEY": "aws-secret-value"}}
	bw := topics.Bandwidth{UpKBps: 1024, DownKBps: 2048}
	for _, tc := range []struct {
		op   Op
		want string
	}{
		{Op{Kind: topics.JobInit}, "init --json --limit-upload=1024 --limit-download=2048"},
		{Op{Kind: topics.JobBackup, Backup: BackupOptions{
			Paths: []string{"/home", "/-etc"}, Excludes: []string{"*.tmp"}, ExcludeFiles: []string{excl}, ExcludeCaches: true, OneFileSystem: true, Tags: []string{"a", "b"}, Host: "web-1",
		}}, "backup --json --limit-upload=1024 --limit-download=2048 --host=web-1 --tag=a --tag=b --exclude=*.tmp --exclude-file=" + excl + " --exclude-caches --one-file-system -- /home /-etc"},
		{Op{Kind: topics.JobForget, Forget: ForgetOptions{Retention: topics.Retention{Last: 3, Hourly: 4, Daily: 7, Weekly: 4, Monthly: 12, Yearly: 2, Within: "2d", Tags: []string{"keep"}}, Prune: true, Host: "web-1"}},
			"forget --json --limit-upload=1024 --limit-download=2048 --keep-last=3 --keep-hourly=4 --keep-daily=7 --keep-weekly=4 --keep-monthly=12 --keep-yearly=2 --keep-within=2d --keep-tag=keep --host=web-1 --prune"},
		{Op{Kind: topics.JobForget, Forget: ForgetOptions{Retention: topics.Retention{Last: 2}, DryRun: true, FilterTags: []string{"rm-group:sg_1", "x"}}},
			"forget --json --limit-upload=1024 --limit-download=2048 --keep-last=2 --tag=rm-group:sg_1 --tag=x --dry-run"},
		{Op{Kind: topics.JobPrune}, "prune --json --limit-upload=1024 --limit-download=2048"},
		{Op{Kind: topics.JobCheck, Check: CheckOptions{ReadDataSubset: "10%"}}, "check --json --limit-upload=1024 --limit-download=2048 --read-data-subset=10%"},
		{Op{Kind: topics.JobUnlock}, "unlock --json --limit-upload=1024 --limit-download=2048"},
		{Op{Kind: topics.JobSnapshots}, "snapshots --json --limit-upload=1024 --limit-download=2048"},
		{Op{Kind: topics.JobRestore, Restore: RestoreOptions{SnapshotID: "latest", Include: []string{"/home/a"}, Target: dir}},
			"restore --json --limit-upload=1024 --limit-download=2048 --verbose=2 --target=" + dir + " --include=/home/a -- latest"},
		{Op{Kind: topics.JobRestore, Restore: RestoreOptions{SnapshotID: "0123abcd", Target: dir, Overwrite: topics.OverwriteIfNewer, Verify: true}},
			"restore --json --limit-upload=1024 --limit-download=2048 --verbose=2 --target=" + dir + " --overwrite=if-newer --verify -- 0123abcd"},
	} {
		tc.op.Repository, tc.op.Bandwidth = repo, bw
		args, err := Args(tc.op)
		if err != nil {
			t.Fatalf("%s: %v", tc.op.Kind, err)
		}
		if got := strings.Join(args, " "); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.op.Kind, got, tc.want)
		}
		for _, a := range args {
			for _, secret := range []string{testPassword, "aws-secret-value", "s3.example"} {
				if strings.Contains(a, secret) {
					t.Errorf("%s: argv has a secret or the repository: %q", tc.op.Kind, a)
				}
			}
		}
		if tc.op.Kind == topics.JobUnlock && slices.Contains(args, "--remove-all") {
			t.Errorf("unlock must never remove all locks")
		}
	}
}

func TestArgsWithoutBandwidth(t *testing.T) {
	t.Parallel()
	args, err := Args(Op{Kind: topics.JobSnapshots, Repository: repoAt("/srv/r")})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(args, " "); got != "snapshots --json" {
		t.Errorf("got %q", got)
	}
}

func TestChildEnv(t *testing.T) {
	t.Parallel()
	base := []string{"PATH=/bin", "RESTIC_PASSWORD=old", "RESTIC_PASSWORD_FILE=/f", "RESTIC_PASSWORD_COMMAND=cat /f", "RESTIC_REPOSITORY_FILE=/r", "RESTIC_CACHE_DIR=/c", "AWS_PROFILE=x", "RESTIC_REST_PASSWORD=base"}
	repo := Repository{URL: "/srv/r", Password: "new", Env: map[string]string{"RESTIC_REST_PASSWORD": "op", "B2_ACCOUNT_ID": "id"}}
	got := strings.Join(childEnv(base, repo), " ")
	want := "PATH=/bin RESTIC_CACHE_DIR=/c AWS_PROFILE=x RESTIC_REPOSITORY=/srv/r RESTIC_PASSWORD=new B2_ACCOUNT_ID=id RESTIC_REST_PASSWORD=op"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
