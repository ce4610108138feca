package topics

import (
	"strings"
	"testing"
)

func TestCheckBackendEnvNameAllows(t *testing.T) {
	for _, name := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_PROFILE",
		"RESTIC_AWS_ASSUME_ROLE_ARN", "RESTIC_AWS_ASSUME_ROLE_STS_ENDPOINT",
		"B2_ACCOUNT_ID", "B2_ACCOUNT_KEY", "AZURE_ACCOUNT_NAME", "AZURE_ACCOUNT_KEY", "AZURE_ACCOUNT_SAS",
		"AZURE_CLIENT_SECRET", "GOOGLE_PROJECT_ID", "GOOGLE_ACCESS_TOKEN", "OS_AUTH_URL", "OS_PASSWORD",
		"OS_APPLICATION_CREDENTIAL_SECRET", "ST_AUTH", "ST_KEY", "RESTIC_REST_USERNAME", "RESTIC_REST_PASSWORD",
		"RCLONE_BWLIMIT", "RCLONE_CONFIG_PASS", "RESTIC_COMPRESSION", "HTTPS_PROXY", "NO_PROXY",
		// An rclone remote by environment: credentials and endpoints.
		"RCLONE_CONFIG_MYS3_TYPE", "RCLONE_CONFIG_MYS3_PROVIDER", "RCLONE_CONFIG_MYS3_ACCESS_KEY_ID",
		"RCLONE_CONFIG_MYS3_SECRET_ACCESS_KEY", "RCLONE_CONFIG_MYS3_ENDPOINT", "RCLONE_CONFIG_MYS3_REGION",
		"RCLONE_CONFIG_BOX1_HOST", "RCLONE_CONFIG_BOX1_PORT", "RCLONE_CONFIG_BOX1_USER", "RCLONE_CONFIG_BOX1_PASS",
		"RCLONE_CONFIG_BOX1_KEY_PEM", "RCLONE_CONFIG_DAV_URL", "RCLONE_CONFIG_DAV_VENDOR", "RCLONE_CONFIG_B2_ACCOUNT",
		"RCLONE_CONFIG_B2_KEY", "RCLONE_CONFIG_GD_TOKEN", "RCLONE_CONFIG_GD_CLIENT_ID", "RCLONE_CONFIG_AZ_SAS_URL",
	} {
		if err := CheckBackendEnvName(name); err != nil {
			t.Errorf("%s refused: %v", name, err)
		}
	}
}

func TestCheckBackendEnvNameRefuses(t *testing.T) {
	for _, tc := range []struct{ name, why string }{
		// The attack run (#9): an rclone remote-control server as root.
		{"RCLONE_RC", "it starts a listener"},
		{"RCLONE_RC_NO_AUTH", "it starts a listener"},
		{"RCLONE_RC_ADDR", "it starts a listener"},
		{"RCLONE_RC_SERVE", "it starts a listener"},
		{"RCLONE_PASSWORD_COMMAND", "it names a command"},
		{"RCLONE_CONFIG", "it names a file"},
		{"GOOGLE_APPLICATION_CREDENTIALS", "it names a file"},
		{"AWS_SHARED_CREDENTIALS_FILE", "it names a file"},
		// Other rclone global flags by environment.
		{"RCLONE_CACHE_DIR", "it names a file"},
		{"RCLONE_LOG_FILE", "it names a file"},
		{"RCLONE_CA_CERT", "it names a file"},
		{"RCLONE_SFTP_SSH", "it names a command"},
		{"RCLONE_S3_ACCESS_KEY_ID", "not a credential or endpoint variable of a restic backend"},
		{"RCLONE_TRANSFERS", "not a credential or endpoint variable of a restic backend"},
		// rclone remote options that name a command, a file or a listener.
		{"RCLONE_CONFIG_BOX1_SSH", "it names a command"},
		{"RCLONE_CONFIG_BOX1_KEY_FILE", "it names a file"},
		{"RCLONE_CONFIG_BOX1_PUBKEY_FILE", "it names a file"},
		{"RCLONE_CONFIG_BOX1_KNOWN_HOSTS_FILE", "it names a file"},
		{"RCLONE_CONFIG_BOX1_SERVER_COMMAND", "it names a command"},
		{"RCLONE_CONFIG_BOX1_MD5SUM_COMMAND", "it names a command"},
		{"RCLONE_CONFIG_GD_SERVICE_ACCOUNT_FILE", "it names a file"},
		{"RCLONE_CONFIG_MYS3_SHARED_CREDENTIALS_FILE", "it names a file"},
		{"RCLONE_CONFIG_DAV_BEARER_TOKEN_COMMAND", "it names a command"},
		{"RCLONE_CONFIG_DAV_UNIX_SOCKET", "it names a file"},
		{"RCLONE_CONFIG_X_PASSWORD_COMMAND", "it names a command"},
		{"RCLONE_CONFIG_X_PLUGIN", "it loads a plugin"},
		// A crypt's remote may be a connection string setting any option.
		{"RCLONE_CONFIG_SECRET_REMOTE", "RCLONE_CONFIG_<REMOTE>_<OPTION>"},
		// A remote name with "_" would make the option ambiguous.
		{"RCLONE_CONFIG_MY_REMOTE_USER", "RCLONE_CONFIG_<REMOTE>_<OPTION>"},
		{"RCLONE_CONFIG__TYPE", "RCLONE_CONFIG_<REMOTE>_<OPTION>"},
		// Files, commands and code on the host.
		{"RESTIC_PASSWORD_COMMAND", "it names a command"},
		{"RESTIC_PASSWORD_FILE", "it names a file"},
		{"RESTIC_REPOSITORY_FILE", "it names a file"},
		{"RESTIC_CACERT", "it names a file"},
		{"RESTIC_TLS_CLIENT_CERT", "it names a file"},
		{"RESTIC_CACHE_DIR", "it names a file"},
		{"AZURE_FORCE_CLI_CREDENTIAL", "not a credential or endpoint variable of a restic backend"},
		{"AZURE_CLIENT_CERTIFICATE_PATH", "it names a file"},
		{"AZURE_FEDERATED_TOKEN_FILE", "it names a file"},
		{"AWS_CONFIG_FILE", "it names a file"},
		{"AWS_CA_BUNDLE", "not a credential or endpoint variable of a restic backend"},
		{"LD_PRELOAD", "it loads a plugin"},
		{"PATH", "it names a file"},
		{"TMPDIR", "it names a file"},
		{"GIT_SSH_COMMAND", "it names a command"},
		{"AWS_", "not a credential or endpoint variable of a restic backend"},
		{"HOME", "not a credential or endpoint variable of a restic backend"},
		{"aws_secret_access_key", "upper-case letters"},
		{"", "upper-case letters"},
		{"AWS_ACCESS_KEY_ID=x", "upper-case letters"},
	} {
		err := CheckBackendEnvName(tc.name)
		if err == nil {
			t.Errorf("%q allowed", tc.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.name) || !strings.Contains(msg, tc.why) || strings.Count(msg, ". ") > 0 {
			t.Errorf("%q: %q does not name the variable and say %q in one sentence", tc.name, msg, tc.why)
		}
		if BackendEnvAllowed(tc.name) {
			t.Errorf("BackendEnvAllowed(%q) disagrees", tc.name)
		}
	}
	want := "RCLONE_RC is not allowed: it starts a listener; only credential and endpoint variables may be set"
	if err := CheckBackendEnvName("RCLONE_RC"); err == nil || err.Error() != want {
		t.Errorf("RCLONE_RC: %v, want %q", err, want)
	}
}

// TestRepositoryConfigRefusesAttackEnv: the whole env of the attack run is
// refused by the check the server runs before storing anything.
func TestRepositoryConfigRefusesAttackEnv(t *testing.T) {
	for _, env := range []map[string]string{
		{"RCLONE_RC": "true", "RCLONE_RC_NO_AUTH": "true", "RCLONE_RC_ADDR": "127.0.0.1:5999"},
		{"RCLONE_PASSWORD_COMMAND": "sh -c id"},
		{"RCLONE_CONFIG": "/tmp/evil.conf"},
		{"GOOGLE_APPLICATION_CREDENTIALS": "/etc/shadow"},
		{"AWS_SHARED_CREDENTIALS_FILE": "/root/.aws/credentials", "AWS_ACCESS_KEY_ID": "x"},
	} {
		r := RepositoryConfig{URL: "rclone:remote:bucket", Password: "pw", Env: env}
		if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "is not allowed") {
			t.Errorf("%v: %v", env, err)
		}
	}
	ok := RepositoryConfig{URL: "rclone:mys3:bucket/restic", Password: "pw", Env: map[string]string{
		"RCLONE_CONFIG_MYS3_TYPE": "s3", "RCLONE_CONFIG_MYS3_ACCESS_KEY_ID": "AKID", "RCLONE_CONFIG_MYS3_SECRET_ACCESS_KEY": "k"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("rclone remote by env: %v", err)
	}
}
