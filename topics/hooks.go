package topics

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Hooks (#10): shell script text the agent runs before (pre) and after
// (post) a backup, through the host's shell, as its service user. They
// travel in the versioned down/config, on each source group and as the
// host's defaults (Config.HostHooks), so scheduled backups run them while
// the server is unreachable. They are secrets like the repository: sealed
// at rest on the server, never logged, never in the audit log.

// Hook limits: a body is at most MaxHookBody bytes; a timeout is
// 1..MaxHookTimeout seconds, DefaultHookTimeout when not given (0).
const (
	MaxHookBody        = 64 << 10
	DefaultHookTimeout = 600
	MaxHookTimeout     = 86400
)

// Hook line prefixes: every line a hook prints goes into the job's log
// with HookLinePrefix (stdout, stream "out") or HookStderrPrefix (stderr,
// stream "err"), so the log tells a hook's lines from restic's.
const (
	HookLinePrefix   = "hook: "
	HookStderrPrefix = "hook: [stderr] "
)

// IsHookLine reports whether a log line (stream and text) is a hook's
// output.
func IsHookLine(stream, text string) bool {
	return (stream == StreamStdout || stream == StreamStderr) && strings.HasPrefix(text, HookLinePrefix)
}

// Hook names as the log, the errors and the audit say them.
const (
	PreHook  = "pre_hook"
	PostHook = "post_hook"
)

// Hooks are a source group's or a host's hooks. An empty body is no hook.
type Hooks struct {
	PreHook  string `json:"pre_hook,omitempty"`
	PostHook string `json:"post_hook,omitempty"`
	// TimeoutSeconds bounds each hook's run; 0 means DefaultHookTimeout.
	TimeoutSeconds int `json:"hook_timeout_seconds,omitempty"`
}

// Empty reports whether h sets no hook.
func (h Hooks) Empty() bool { return h.PreHook == "" && h.PostHook == "" }

// Timeout is how long each of the hooks may run.
func (h Hooks) Timeout() time.Duration {
	if h.TimeoutSeconds == 0 {
		return DefaultHookTimeout * time.Second
	}
	return time.Duration(h.TimeoutSeconds) * time.Second
}

// Validate checks both bodies and the timeout.
func (h Hooks) Validate() error {
	if err := ValidateHookBody(PreHook, h.PreHook); err != nil {
		return err
	}
	if err := ValidateHookBody(PostHook, h.PostHook); err != nil {
		return err
	}
	return ValidateHookTimeout(h.TimeoutSeconds)
}

// ValidateHookBody checks one hook's text: at most MaxHookBody bytes of
// UTF-8 without NUL bytes ("" is no hook). The error never quotes the
// body.
func ValidateHookBody(which, body string) error {
	switch {
	case len(body) > MaxHookBody:
		return fmt.Errorf("%s is %d bytes; a hook may have at most %d bytes (64 KiB): put a longer script in a file on the host and call it", which, len(body), MaxHookBody)
	case !utf8.ValidString(body):
		return fmt.Errorf("%s is not valid UTF-8 text", which)
	case strings.ContainsRune(body, 0):
		return fmt.Errorf("%s contains a NUL byte", which)
	}
	return nil
}

// ValidateHookTimeout checks a timeout in seconds (0: the default).
func ValidateHookTimeout(seconds int) error {
	if seconds < 0 || seconds > MaxHookTimeout {
		return fmt.Errorf("hook_timeout_seconds must be between 1 and %d (24 hours), or absent for the default of %d", MaxHookTimeout, DefaultHookTimeout)
	}
	return nil
}

// HookRun is the hook a backup runs at one point (pre or post): its body,
// its timeout, and where it comes from.
type HookRun struct {
	Body    string
	Timeout time.Duration
	// FromGroup: the source group's own hook; otherwise the host default.
	FromGroup bool
}

// EffectiveHooks is the one rule for which hook a backup runs: for each of
// pre and post, the source group's own hook when it has one, otherwise the
// host's default (also for a backup of no group). A hook's timeout is the
// one set next to it. A zero HookRun (empty Body) means no hook.
func EffectiveHooks(group *Hooks, host *Hooks) (pre, post HookRun) {
	pick := func(body func(Hooks) string) HookRun {
		if group != nil && body(*group) != "" {
			return HookRun{Body: body(*group), Timeout: group.Timeout(), FromGroup: true}
		}
		if host != nil && body(*host) != "" {
			return HookRun{Body: body(*host), Timeout: host.Timeout()}
		}
		return HookRun{}
	}
	return pick(func(h Hooks) string { return h.PreHook }), pick(func(h Hooks) string { return h.PostHook })
}

// HooksFor is EffectiveHooks for a backup of the group groupID ("" for
// none) under this config.
func (m *Config) HooksFor(groupID string) (pre, post HookRun) {
	var group *Hooks
	for i := range m.SourceGroups {
		if g := &m.SourceGroups[i]; groupID != "" && g.ID == groupID {
			group = &g.Hooks
		}
	}
	return EffectiveHooks(group, m.HostHooks)
}

// CheckSize refuses a config that would not fit in one message
// (MaxPayload) once encoded: hooks are large, and a host's config is
// delivered whole.
func (m *Config) CheckSize() error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if n := len(b); n > MaxPayload {
		clear(b)
		return fmt.Errorf("the host's configuration would be %d KiB, more than the %d KiB one message carries: shorten its hooks or move long scripts into files on the host", n>>10, MaxPayload>>10)
	}
	clear(b)
	return nil
}
