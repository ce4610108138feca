package restic

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/topics"
)

// TestRefusedBackendReachesNoProgram runs the real restic with stand-in ssh
// and rclone programs that record how they were started. The attack run's
// environment (#9: an rclone remote-control server as root) and an sftp
// host that ssh reads as an option are refused before restic starts, so
// neither program is ever run; an allowed repository does reach them,
// which shows the recorder works.
func TestRefusedBackendReachesNoProgram(t *testing.T) {
	requireUnix(t)
	r, _ := newRunner(t)
	bin, record := t.TempDir(), filepath.Join(t.TempDir(), "record")
	marker := filepath.Join(t.TempDir(), "pwned")
	script := "#!/bin/sh\n{ echo \"$(basename \"$0\") $*\"; env; } >> '" + record + "'\nexit 1\n"
	for _, name := range []string{"ssh", "rclone"} {
		agenttest.WriteExecutable(t, filepath.Join(bin, name), script)
	}
	r.Env = append(r.Env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	run := func(repo Repository) error {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		_, err := r.Run(ctx, Op{Kind: topics.JobInit, Repository: repo})
		return err
	}
	for name, repo := range map[string]Repository{
		"rclone rc": {URL: "rclone:remote:repo", Password: testPassword,
			Env: map[string]string{"RCLONE_RC": "true", "RCLONE_RC_NO_AUTH": "true", "RCLONE_RC_ADDR": "127.0.0.1:5999"}},
		"rclone password command": {URL: "rclone:remote:repo", Password: testPassword,
			Env: map[string]string{"RCLONE_PASSWORD_COMMAND": "touch " + marker}},
		"rclone config file": {URL: "rclone:remote:repo", Password: testPassword, Env: map[string]string{"RCLONE_CONFIG": "/tmp/x.conf"}},
		"gcs credentials file": {URL: "rclone:remote:repo", Password: testPassword,
			Env: map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": "/etc/shadow"}},
		"aws credentials file": {URL: "rclone:remote:repo", Password: testPassword,
			Env: map[string]string{"AWS_SHARED_CREDENTIALS_FILE": "/root/.aws/credentials"}},
		"sftp host option":     {URL: "sftp:-oProxyCommand=touch " + marker + ":/x", Password: testPassword},
		"sftp url host option": {URL: "sftp://-oProxyCommand=x/srv", Password: testPassword},
		"sftp user@-host":      {URL: "sftp:backup@-oProxyCommand=touch " + marker + ":/x", Password: testPassword},
		"rclone remote flag":   {URL: "rclone:--rc-addr=127.0.0.1:5999", Password: testPassword},
	} {
		err := run(repo)
		if !errors.Is(err, ErrInvalidOp) || !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("%s: err = %v, want ErrInvalidOp saying what is not allowed", name, err)
		}
		if got, err := os.ReadFile(record); err == nil {
			t.Fatalf("%s: restic was run and started a program:\n%s", name, got)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%s: the injected command ran", name)
		}
	}

	// The recorder sees what an allowed repository passes on.
	allowed := Repository{URL: "rclone:mys3:repo", Password: testPassword,
		Env: map[string]string{"RCLONE_CONFIG_MYS3_TYPE": "s3", "RCLONE_CONFIG_MYS3_ACCESS_KEY_ID": "AKIDEXAMPLE"}}
	if err := run(allowed); err != nil {
		t.Fatalf("allowed rclone repository: %v", err)
	}
	got, err := os.ReadFile(record)
	if err != nil || !strings.Contains(string(got), "rclone ") || !strings.Contains(string(got), "RCLONE_CONFIG_MYS3_TYPE=s3") {
		t.Fatalf("restic did not start rclone with the allowed variables: %v\n%s", err, got)
	}
}
