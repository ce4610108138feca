package topics

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// RepositoryConfig is a host's restic repository. URL, Password and the
// values of Env are secrets: encrypted at rest on the server, sent only in
// down/config over the host's own (TLS) session, passed to restic only in
// its environment.
type RepositoryConfig struct {
	URL      string            `json:"url"`
	Password string            `json:"password"`
	Env      map[string]string `json:"env,omitempty"`
}

// Validate checks the repository and says what is wrong without echoing a
// secret (the URL may hold a password; it is never quoted back).
func (r *RepositoryConfig) Validate() error {
	if err := CheckRepositoryURL(r.URL, IsAbsPath); err != nil {
		return err
	}
	if r.Password == "" {
		return errors.New("repository password is empty")
	}
	if len(r.Password) > MaxSpecField || strings.ContainsAny(r.Password, "\x00\r\n") {
		return fmt.Errorf("repository password is longer than %d bytes or contains a line break or NUL byte", MaxSpecField)
	}
	if len(r.Env) > MaxEnvVars {
		return fmt.Errorf("repository has %d backend env variables; at most %d are allowed", len(r.Env), MaxEnvVars)
	}
	for _, name := range slices.Sorted(maps.Keys(r.Env)) {
		if err := CheckBackendEnvName(name); err != nil {
			return err
		}
		if v := r.Env[name]; len(v) > MaxEnvValue || strings.ContainsAny(v, "\x00\r\n") {
			return fmt.Errorf("backend env %s: value is longer than %d bytes or contains a line break or NUL byte", name, MaxEnvValue)
		}
	}
	return nil
}
