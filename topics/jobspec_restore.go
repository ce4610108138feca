package topics

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Restore anywhere (#14): the rules of a restore's overwrite policy, its
// original-location target and its source host, declared once here for
// the server, the web forms and the agent.

// OverwritePolicy is restic restore's --overwrite: what it does with a file
// that already exists in the target. restic 0.17.0 added the option
// (restic PR #4837 and #4838); before, restore always overwrote.
type OverwritePolicy string

// The overwrite policies, as restic spells them. The empty policy is
// restic's default, OverwriteAlways.
const (
	// OverwriteAlways rewrites every existing file that differs from the
	// snapshot; restic 0.17+ reads an existing file's content to decide and
	// leaves one that already matches alone.
	OverwriteAlways OverwritePolicy = "always"
	// OverwriteIfChanged rewrites a file whose size or modification time
	// differs from the snapshot's (it trusts them; the content is not read).
	OverwriteIfChanged OverwritePolicy = "if-changed"
	// OverwriteIfNewer rewrites a file only when the snapshot's copy is
	// newer (by modification time) than the one on disk.
	OverwriteIfNewer OverwritePolicy = "if-newer"
	// OverwriteNever leaves every existing file alone: only missing files
	// are restored.
	OverwriteNever OverwritePolicy = "never"
)

// OverwritePolicies lists the policies in the order forms show them.
func OverwritePolicies() []OverwritePolicy {
	return []OverwritePolicy{OverwriteAlways, OverwriteIfChanged, OverwriteIfNewer, OverwriteNever}
}

// Valid reports whether p is empty (restic's default) or one of
// OverwritePolicies.
func (p OverwritePolicy) Valid() bool {
	switch p {
	case "", OverwriteAlways, OverwriteIfChanged, OverwriteIfNewer, OverwriteNever:
		return true
	}
	return false
}

// IsDefault reports whether p asks for nothing restic before 0.17 did not
// do anyway (empty or always).
func (p OverwritePolicy) IsDefault() bool { return p == "" || p == OverwriteAlways }

// OverwriteMinRestic is the first restic release with --overwrite.
const OverwriteMinRestic = "0.17.0"

// ResticSupportsOverwrite reports whether a restic of this version (as
// `restic version` prints it, "0.18.1", "0.16.0-dev") has --overwrite. An
// empty or unreadable version does not: nothing is known of it.
func ResticSupportsOverwrite(version string) bool {
	major, minor, ok := resticMajorMinor(version)
	return ok && (major > 0 || minor >= 17)
}

// CheckOverwriteSupport says in one sentence why a host whose restic has
// this version cannot apply p, or nil when it can (a default policy needs
// nothing).
func CheckOverwriteSupport(p OverwritePolicy, resticVersion string) error {
	if p.IsDefault() || ResticSupportsOverwrite(resticVersion) {
		return nil
	}
	have := "an unknown version"
	if resticVersion != "" {
		have = "version " + clip(resticVersion)
	}
	return fmt.Errorf("this host's restic (%s) cannot restore with overwrite policy %q: restic %s or newer can, so upgrade restic on the host or restore with policy always",
		have, p, OverwriteMinRestic)
}

// resticMajorMinor reads "0.18.1", "0.16.0-dev" or "v0.9.6".
func resticMajorMinor(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	minorDigits, _, _ := strings.Cut(parts[1], "-")
	var err1, err2 error
	major, err1 = strconv.Atoi(parts[0])
	minor, err2 = strconv.Atoi(minorDigits)
	return major, minor, err1 == nil && err2 == nil && major >= 0 && minor >= 0
}

// RestoresInPlace reports whether s is a restore into the original
// location: target "/" puts every file back at the path it was backed up
// from, over the live files there. Such a restore is admin-only.
func (s *JobSpec) RestoresInPlace() bool {
	return s.Kind == JobRestore && s.Target != "" && path.Clean(strings.ReplaceAll(s.Target, `\`, "/")) == "/"
}

// IsCrossHost reports whether s restores another host's snapshot (from
// that host's repository) onto the host that runs it.
func (s *JobSpec) IsCrossHost() bool { return s.Kind == JobRestore && s.SourceHost != "" }

// validateRestore checks the options restore anywhere added.
func (s *JobSpec) validateRestore() error {
	if !s.Overwrite.Valid() {
		return fmt.Errorf("unknown overwrite policy %q: use always, if-changed, if-newer or never", clip(string(s.Overwrite)))
	}
	if s.SourceHost != "" && !ValidHostID(s.SourceHost) {
		return fmt.Errorf("source_host %q is not a host id (h_…)", clip(s.SourceHost))
	}
	return nil
}

// checkSourceRepository checks a run command's source repository: it
// comes only with a cross-host restore. The server always sends it with
// one; a command without it is the agent's journaled copy (the agent waits
// for the server's resend to bring the credentials again).
func checkSourceRepository(c *Command) error {
	switch {
	case c.SourceRepository != nil && !c.Spec.IsCrossHost():
		return errors.New("a source repository comes only with a cross-host restore")
	case c.SourceRepository != nil:
		return c.SourceRepository.Validate()
	}
	return nil
}
