package restic

import (
	"cmp"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
)

// controlledEnvPrefixes are removed from the base environment: the runner
// sets the repository and password itself, and a stray RESTIC_PASSWORD_FILE
// or RESTIC_REPOSITORY_FILE on the host would silently win over them.
var controlledEnvPrefixes = []string{"RESTIC_REPOSITORY", "RESTIC_PASSWORD", "RESTIC_FROM_", "RESTIC_KEY_HINT"}

// childEnv is restic's environment: base minus what the runner controls,
// then the repository, the password and the backend variables.
func childEnv(base []string, repo Repository) []string {
	out := make([]string, 0, len(base)+len(repo.Env)+2)
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		key := envKey(name)
		if _, set := repo.Env[key]; set || controlledEnv(key) {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "RESTIC_REPOSITORY="+repo.URL, "RESTIC_PASSWORD="+repo.Password)
	for _, name := range slices.Sorted(maps.Keys(repo.Env)) {
		out = append(out, name+"="+repo.Env[name])
	}
	return out
}

func controlledEnv(key string) bool {
	for _, p := range controlledEnvPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// envKey is how the OS compares variable names: Windows ignores case.
func envKey(name string) string {
	if runtime.GOOS == "windows" {
		return strings.ToUpper(name)
	}
	return name
}

// RedactURL hides the password in a repository URL such as
// rest:https://user:secret@host/ → rest:https://user:***@host/. Other URLs
// come back unchanged.
func RedactURL(u string) string {
	start, end, ok := urlPasswordSpan(u)
	if !ok {
		return u
	}
	return u[:start] + "***" + u[end:]
}

// urlPasswordSpan finds the password of scheme://user:password@host in u.
func urlPasswordSpan(u string) (start, end int, ok bool) {
	i := strings.Index(u, "://")
	if i < 0 {
		return 0, 0, false
	}
	authStart := i + 3
	authority := u[authStart:]
	if slash := strings.IndexByte(authority, '/'); slash >= 0 {
		authority = authority[:slash]
	}
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return 0, 0, false
	}
	colon := strings.IndexByte(authority[:at], ':')
	if colon < 0 || colon+1 == at {
		return 0, 0, false
	}
	return authStart + colon + 1, authStart + at, true
}

// minRedactLen: shorter secrets are not searched for in output, since
// replacing every "ab" in a log would wreck it while hiding nothing useful.
const minRedactLen = 4

// redactor replaces a repository's secrets in text bound for logs: the
// password, a password in the URL, and backend values whose names say they
// are secret. restic does not print them; this is the second line of defence.
type redactor struct{ secrets []string }

func newRedactor(r Repository) *redactor {
	var secrets []string
	add := func(s string) {
		if len(s) >= minRedactLen && !slices.Contains(secrets, s) {
			secrets = append(secrets, s)
		}
	}
	add(r.Password)
	if start, end, ok := urlPasswordSpan(r.URL); ok {
		add(r.URL[start:end])
	}
	for name, value := range r.Env {
		if secretEnvName(name) {
			add(value)
		}
	}
	// Longest first, so a secret containing another is replaced whole.
	slices.SortFunc(secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return &redactor{secrets: secrets}
}

func (r *redactor) redact(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

// secretEnvName guesses from a backend variable's name whether its value is
// a secret (AWS_SECRET_ACCESS_KEY, B2_ACCOUNT_KEY, RESTIC_REST_PASSWORD, ...).
func secretEnvName(name string) bool {
	for _, w := range []string{"KEY", "SECRET", "PASSWORD", "TOKEN", "CREDENTIAL", "SAS", "AUTH"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// baseEnv is the environment restic starts from: the runner's, or ours.
func baseEnv(env []string) []string {
	if env == nil {
		return os.Environ()
	}
	return env
}
