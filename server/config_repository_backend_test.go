package server_test

import (
	"github.com/restic-manager/restic-manager/server"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// TestSetRepositoryRefusesCommandsFilesAndListeners: the backend variables
// and URLs of the attack run (#9) are refused as the caller's fault, with
// a sentence naming the variable and why, and nothing is stored, queued or
// sent to the agent.
func TestSetRepositoryRefusesCommandsFilesAndListeners(t *testing.T) {
	f := newJobsFixture(t)
	for _, tc := range []struct {
		in   server.RepositoryInput
		want string
	}{
		{server.RepositoryInput{URL: "rclone:remote:repo", Password: testRepoPassword, Env: map[string]string{
			"RCLONE_RC": "true", "RCLONE_RC_NO_AUTH": "true", "RCLONE_RC_ADDR": "127.0.0.1:5999"}},
			"RCLONE_RC is not allowed: it starts a listener"},
		{server.RepositoryInput{URL: "/srv/restic", Password: testRepoPassword, Env: map[string]string{"RCLONE_PASSWORD_COMMAND": "id"}},
			"RCLONE_PASSWORD_COMMAND is not allowed: it names a command"},
		{server.RepositoryInput{URL: "/srv/restic", Password: testRepoPassword, Env: map[string]string{"RCLONE_CONFIG": "/tmp/r.conf"}},
			"RCLONE_CONFIG is not allowed: it names a file"},
		{server.RepositoryInput{URL: "gs:bucket:/r", Password: testRepoPassword, Env: map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": "/etc/shadow"}},
			"GOOGLE_APPLICATION_CREDENTIALS is not allowed: it names a file"},
		{server.RepositoryInput{URL: "s3:host/bucket", Password: testRepoPassword, Env: map[string]string{"AWS_SHARED_CREDENTIALS_FILE": "/root/x"}},
			"AWS_SHARED_CREDENTIALS_FILE is not allowed: it names a file"},
		{server.RepositoryInput{URL: "sftp:-oProxyCommand=touch /tmp/pwned:/x", Password: testRepoPassword},
			`Repository URL is not allowed: its host or user starts with "-", which ssh would read as an option`},
		{server.RepositoryInput{URL: "rclone:--rc-addr=127.0.0.1:5999", Password: testRepoPassword},
			`Repository URL is not allowed: its remote name starts with "-"`},
	} {
		_, err := f.s.SetRepository(t.Context(), f.admin, f.host, tc.in)
		if server.ErrorCodeOf(err) != server.CodeInvalid {
			t.Errorf("%v: err = %v, want invalid", tc.in.Env, err)
			continue
		}
		if msg := server.PublicMessage(err); !strings.HasPrefix(msg, tc.want) || !strings.HasSuffix(msg, ".") || strings.Contains(msg, testRepoPassword) {
			t.Errorf("message %q, want one sentence starting %q", msg, tc.want)
		}
	}
	st, err := f.s.GetRepository(t.Context(), f.host)
	if err != nil || st.State != server.RepoNone || st.ConfigVersion != 0 || f.countJobs(t) != 0 {
		t.Fatalf("a refused repository stored something: %+v %v, %d jobs", st, err, f.countJobs(t))
	}
	if len(f.pub.On(topics.ConfigTopic(f.host))) != 0 {
		t.Fatal("a refused repository published a config")
	}
}
