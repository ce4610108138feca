package topics

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// A repository's Env goes into restic's environment on the host, where
// restic, ssh and rclone run as the agent's user (often root). So it may
// carry credentials and endpoints only: exact names restic's backends read
// (its manual's "Environment Variables" list) and rclone remotes given by
// environment. Anything that names a command, a file, a listener or a
// plugin is refused: RCLONE_RC=true started an unauthenticated rclone
// remote-control server, RCLONE_PASSWORD_COMMAND runs a program,
// GOOGLE_APPLICATION_CREDENTIALS and AWS_SHARED_CREDENTIALS_FILE read a
// file of the server's choosing. The list is an allow-list: a variable a
// new restic or rclone release learns is refused until someone decides it
// is safe.

var envNameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,127}$`)

// backendEnvNames are the exact variables a repository may set.
var backendEnvNames = []string{
	// S3 (and S3-compatible).
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE",
	"RESTIC_AWS_ASSUME_ROLE_ARN", "RESTIC_AWS_ASSUME_ROLE_SESSION_NAME", "RESTIC_AWS_ASSUME_ROLE_EXTERNAL_ID",
	"RESTIC_AWS_ASSUME_ROLE_POLICY", "RESTIC_AWS_ASSUME_ROLE_REGION", "RESTIC_AWS_ASSUME_ROLE_STS_ENDPOINT",
	// Azure: account key or SAS, or a service principal's secret.
	"AZURE_ACCOUNT_NAME", "AZURE_ACCOUNT_KEY", "AZURE_ACCOUNT_SAS", "AZURE_ENDPOINT_SUFFIX",
	"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
	// Backblaze B2.
	"B2_ACCOUNT_ID", "B2_ACCOUNT_KEY",
	// Google Cloud Storage: a token, never a credentials file.
	"GOOGLE_PROJECT_ID", "GOOGLE_ACCESS_TOKEN",
	// OpenStack Swift.
	"OS_AUTH_URL", "OS_REGION_NAME", "OS_USERNAME", "OS_USER_ID", "OS_PASSWORD", "OS_TENANT_ID", "OS_TENANT_NAME",
	"OS_USER_DOMAIN_NAME", "OS_USER_DOMAIN_ID", "OS_PROJECT_NAME", "OS_PROJECT_DOMAIN_NAME", "OS_PROJECT_DOMAIN_ID",
	"OS_TRUST_ID", "OS_APPLICATION_CREDENTIAL_ID", "OS_APPLICATION_CREDENTIAL_NAME", "OS_APPLICATION_CREDENTIAL_SECRET",
	"OS_STORAGE_URL", "OS_AUTH_TOKEN", "ST_AUTH", "ST_USER", "ST_KEY",
	// rest-server.
	"RESTIC_REST_USERNAME", "RESTIC_REST_PASSWORD",
	// rclone: its bandwidth limit and the password of an encrypted config.
	"RCLONE_BWLIMIT", "RCLONE_CONFIG_PASS",
	// Repository settings and the way out.
	"RESTIC_COMPRESSION", "RESTIC_PACK_SIZE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
}

// rcloneRemotePrefix starts an rclone remote given entirely by environment:
// RCLONE_CONFIG_<REMOTE>_<OPTION>. The remote's name may not contain "_",
// so the option is everything after the second part and no allowed name
// can be read by rclone as another remote's option: for a remote named
// X_SERVICE_ACCOUNT, RCLONE_CONFIG_X_SERVICE_ACCOUNT_FILE would set
// service_account_file.
const rcloneRemotePrefix = "RCLONE_CONFIG_"

// rcloneRemoteOptions are the options of an rclone remote that carry a
// credential or an endpoint. Options naming a program (ssh,
// password_command), a file (key_file, service_account_file), a socket or
// another remote (a crypt's remote can be a connection string that sets
// any option) are not here.
var rcloneRemoteOptions = []string{
	"TYPE", "PROVIDER", "VENDOR", "HOST", "PORT", "USER", "PASS", "URL", "ENDPOINT", "REGION",
	"ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN", "ACCOUNT", "KEY", "SAS_URL", "TOKEN", "BEARER_TOKEN",
	"CLIENT_ID", "CLIENT_SECRET", "TENANT", "DOMAIN", "USER_ID", "AUTH_URL", "AUTH_VERSION", "STORAGE_URL",
	"AUTH_TOKEN", "PROJECT_NUMBER", "SERVICE_ACCOUNT_CREDENTIALS", "KEY_PEM",
}

// refusalReasons explain a refused name by what it contains, first match
// wins. They only word the error: what is allowed is decided by the lists
// above, never by these.
var refusalReasons = []struct {
	words  []string
	reason string
}{
	{[]string{"RCLONE_RC", "ADDR", "LISTEN"}, "it starts a listener"},
	{[]string{"COMMAND", "CMD", "PROGRAM", "EXEC", "SHELL", "_SSH"}, "it names a command"},
	{[]string{"PLUGIN", "PRELOAD", "LIBRARY"}, "it loads a plugin"},
	{[]string{"FILE", "PATH", "DIR", "CONFIG", "CERT", "CREDENTIALS", "SOCK", "CACHE", "TMP"}, "it names a file"},
}

// CheckBackendEnvName returns nil when a repository's backend environment
// may set name, or one sentence naming the variable and why it may not.
func CheckBackendEnvName(name string) error {
	if !envNameRE.MatchString(name) {
		return fmt.Errorf("backend variable name %q is not allowed: use upper-case letters, digits and _ (at most 128), such as AWS_ACCESS_KEY_ID", clip(name))
	}
	if slices.Contains(backendEnvNames, name) || rcloneRemoteOption(name) {
		return nil
	}
	// For an rclone remote's option, the option says what it is (the
	// CONFIG in its prefix does not make it a file).
	subject, remote := name, false
	if rest, ok := strings.CutPrefix(name, rcloneRemotePrefix); ok {
		if _, option, ok := strings.Cut(rest, "_"); ok {
			subject, remote = "_"+option, true
		}
	}
	for _, r := range refusalReasons {
		for _, w := range r.words {
			if strings.Contains(subject, w) {
				return fmt.Errorf("%s is not allowed: %s; only credential and endpoint variables may be set", name, r.reason)
			}
		}
	}
	if remote {
		return fmt.Errorf("%s is not allowed: an rclone remote by environment is RCLONE_CONFIG_<REMOTE>_<OPTION> with a remote name without _ and a credential or endpoint option (%s)",
			name, strings.Join(rcloneRemoteOptions, ", "))
	}
	return fmt.Errorf("%s is not allowed: it is not a credential or endpoint variable of a restic backend; only those may be set, such as AWS_ACCESS_KEY_ID, B2_ACCOUNT_KEY, RESTIC_REST_PASSWORD or RCLONE_CONFIG_<REMOTE>_USER", name)
}

// BackendEnvAllowed reports whether a repository's backend environment may
// set the variable name (upper case, e.g. AWS_SECRET_ACCESS_KEY).
func BackendEnvAllowed(name string) bool { return CheckBackendEnvName(name) == nil }

// rcloneRemoteOption reports whether name is RCLONE_CONFIG_<REMOTE>_<OPTION>
// with a remote name without "_" and an allowed option.
func rcloneRemoteOption(name string) bool {
	rest, ok := strings.CutPrefix(name, rcloneRemotePrefix)
	if !ok {
		return false
	}
	remote, option, ok := strings.Cut(rest, "_")
	return ok && remote != "" && slices.Contains(rcloneRemoteOptions, option)
}
