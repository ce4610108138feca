package topics

import (
	"strings"
	"testing"
)

func TestCheckRepositoryURLAllows(t *testing.T) {
	for _, u := range []string{
		"/srv/restic", `C:\restic`, `\\nas\restic`, "local:/srv/restic",
		"sftp:backup@host:/srv/restic", "sftp:host:/srv/restic", "sftp:backup@host:/srv/-odd-dir",
		"sftp://backup@host:2222//srv/restic", "sftp://host/srv/restic",
		"rest:http://host:8000/", "rest:https://user:-pass@host:8000/repo",
		"s3:s3.amazonaws.com/bucket/restic", "s3:https://minio.example:9000/bucket", "s3:http://10.0.0.1/bucket/-x",
		"b2:bucket:restic", "azure:container:/restic", "gs:bucket:/restic", "swift:container:/restic",
		"rclone:remote:bucket/restic", "rclone::local:/srv/restic", "rclone:remote:-path",
	} {
		if err := CheckRepositoryURL(u, IsAbsPath); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}

func TestCheckRepositoryURLRefuses(t *testing.T) {
	for _, tc := range []struct{ url, why string }{
		// The attack run (#9): the host reached ssh as an option.
		{"sftp:-oProxyCommand=touch /tmp/pwned:/x", `host or user starts with "-", which ssh`},
		{"sftp:-oProxyCommand=sh -c 'id>/tmp/p':/x", `host or user starts with "-", which ssh`},
		{"sftp://-oProxyCommand=touch%20/tmp/pwned/x", `host or user starts with "-", which ssh`},
		{"sftp://-oProxyCommand=x:22//srv", `host or user starts with "-", which ssh`},
		{"sftp:user@-oProxyCommand=touch /tmp/pwned:/x", `host or user starts with "-"`},
		{"sftp:-luser@host:/x", `host or user starts with "-"`},
		{"sftp://user@-oProxyCommand=x/srv", `host or user starts with "-"`},
		{"sftp://-l@host/srv", `host or user starts with "-"`},
		{"sftp://user@host:-p1/srv", `host or user starts with "-"`},
		{"sftp: -oProxyCommand=x:/srv", `host or user starts with "-"`},
		// rclone reads a remote starting with "-" as a flag; a connection
		// string sets any option.
		{"rclone:--rc-addr=127.0.0.1:5999", `remote name starts with "-", which rclone`},
		{"rclone:-vv:/x", `remote name starts with "-", which rclone`},
		{"rclone::-x:/x", `remote name starts with "-", which rclone`},
		{`rclone::sftp,host=h,ssh="sh -c id":/x`, "rclone remote with options"},
		{"rclone:remote,password_command=id:/x", "rclone remote with options"},
		// Hosts, buckets and containers.
		{"rest:-x", `host starts with "-"`},
		{"rest:http://-host:8000/", `host starts with "-"`},
		{"rest:https://user:pass@-host/", `host starts with "-"`},
		{"s3:-host/bucket", `host or bucket starts with "-"`},
		{"s3:host/-bucket", `host or bucket starts with "-"`},
		{"s3:https://host/-bucket/x", `host or bucket starts with "-"`},
		{"b2:-bucket:path", `bucket starts with "-"`},
		{"azure:-container:/path", `container starts with "-"`},
		{"gs:-bucket:/path", `bucket starts with "-"`},
		{"swift:-container:/path", `container starts with "-"`},
		// Local paths: only absolute ones, so never "-...".
		{"-oProxyCommand=x", "neither an absolute local path"},
		{"local:-x", "neither an absolute local path"},
		{"local:--help", "neither an absolute local path"},
		{"relative/path", "neither an absolute local path"},
		{"s3:", "neither an absolute local path"},
		{"sftp:  ", "neither an absolute local path"},
		{"ftp://host/x", "neither an absolute local path"},
		{"", "neither an absolute local path"},
		{"/srv/a\nb", "neither an absolute local path"},
	} {
		err := CheckRepositoryURL(tc.url, IsAbsPath)
		if err == nil {
			t.Errorf("%q allowed", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%q: %q, want %q", tc.url, err, tc.why)
		}
		r := RepositoryConfig{URL: tc.url, Password: "pw"}
		if err := r.Validate(); err == nil {
			t.Errorf("%q: RepositoryConfig.Validate allowed it", tc.url)
		}
	}
	// The error never quotes the URL: it may hold a password.
	if err := CheckRepositoryURL("rest:https://user:s3cr3t@-host/", IsAbsPath); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error quotes the URL: %v", err)
	}
}
