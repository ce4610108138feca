package restic

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/restic-manager/restic-manager/topics"
)

// ErrInvalidOp marks an Op that Validate refused. restic was not run; the
// message says which field is wrong and what would be accepted.
var ErrInvalidOp = errors.New("invalid restic operation")

// Limits on Op fields: generous for any real configuration, small enough
// that a malformed or hostile one cannot build an absurd command line.
const (
	maxListLen   = 1000    // paths, excludes, includes, tags
	maxFieldLen  = 4096    // one path, pattern, URL or password
	maxEnvVars   = 64      // backend env entries
	maxEnvValue  = 8192    // one backend env value
	maxKeepCount = 1000000 // one --keep-* count
	maxKiBPerSec = 1 << 30 // a bandwidth limit, KiB/s (1 TiB/s)
)

var (
	// withinRE is restic's duration syntax for --keep-within.
	withinRE     = regexp.MustCompile(`^(?:[0-9]{1,6}y)?(?:[0-9]{1,6}m)?(?:[0-9]{1,6}d)?(?:[0-9]{1,6}h)?$`)
	subsetPartRE = regexp.MustCompile(`^([1-9][0-9]{0,5})/([1-9][0-9]{0,5})$`)
	subsetPctRE  = regexp.MustCompile(`^([0-9]{1,3}(?:\.[0-9]{1,4})?)%$`)
	subsetSizeRE = regexp.MustCompile(`^[1-9][0-9]{0,12}[kKmMgGtT]?$`)
	snapshotIDRE = regexp.MustCompile(`^[0-9a-f]{8,64}$`)
)

// Validate checks every field of op and reports all problems at once, as an
// error wrapping ErrInvalidOp. Paths it names must exist where restic needs
// them to (a restore target, an exclude file), so the answer can change
// with the file system.
func (op Op) Validate() error {
	var v validator
	if !op.Kind.Valid() {
		v.addf("unknown operation %q: use one of init, backup, forget, prune, check, unlock, snapshots, restore", op.Kind)
	}
	v.repository(op.Repository)
	v.bandwidth(op.Bandwidth)
	v.otherKindOptions(op)
	switch op.Kind {
	case KindBackup:
		v.backup(op.Backup)
	case KindForget:
		v.forget(op.Forget)
	case KindCheck:
		v.readDataSubset(op.Check.ReadDataSubset)
	case KindRestore:
		v.restore(op.Restore)
	}
	if len(v.problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w (%s): %s", ErrInvalidOp, op.Kind, strings.Join(v.problems, "; "))
}

type validator struct{ problems []string }

func (v *validator) addf(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

func (v *validator) repository(r Repository) {
	switch u := r.URL; {
	case u == "":
		v.addf("repository URL is empty: set an absolute local path or a backend URL such as sftp:host:/srv/restic")
	case len(u) > maxFieldLen || strings.ContainsFunc(u, isControl):
		v.addf("repository URL %q is too long or contains control characters", clip(RedactURL(u), 200))
	default:
		// topics' rule, which the server checks too, with this machine's
		// own rule for an absolute local path.
		if err := topics.CheckRepositoryURL(u, filepath.IsAbs); err != nil {
			v.addf("%v: %q", err, clip(RedactURL(u), 200))
		}
	}
	switch p := r.Password; {
	case p == "":
		v.addf("repository password is empty: restic needs one to open the repository")
	case len(p) > maxFieldLen:
		v.addf("repository password is longer than %d bytes", maxFieldLen)
	case strings.ContainsAny(p, "\x00\r\n"):
		v.addf("repository password contains a line break or NUL byte, which cannot pass through restic's environment intact")
	}
	if len(r.Env) > maxEnvVars {
		v.addf("repository has %d backend env variables; at most %d are allowed", len(r.Env), maxEnvVars)
	}
	for _, name := range slices.Sorted(maps.Keys(r.Env)) {
		value := r.Env[name]
		if err := topics.CheckBackendEnvName(name); err != nil {
			v.addf("%v", err)
		} else if len(value) > maxEnvValue || strings.ContainsAny(value, "\x00\r\n") {
			v.addf("backend env %s: value is longer than %d bytes or contains a line break or NUL byte", name, maxEnvValue)
		}
	}
}

func (v *validator) bandwidth(b Bandwidth) {
	if b.UploadKiB < 0 || b.UploadKiB > maxKiBPerSec || b.DownloadKiB < 0 || b.DownloadKiB > maxKiBPerSec {
		v.addf("bandwidth limits must be between 0 (unlimited) and %d KiB/s", maxKiBPerSec)
	}
}

// otherKindOptions refuses options meant for another kind: they would be
// ignored, and an operator who set them expects them to matter.
func (v *validator) otherKindOptions(op Op) {
	if op.Kind != KindBackup && !op.Backup.isZero() {
		v.addf("backup options are set on a %s operation", op.Kind)
	}
	if op.Kind != KindForget && !op.Forget.isZero() {
		v.addf("forget options are set on a %s operation", op.Kind)
	}
	if op.Kind != KindCheck && op.Check.ReadDataSubset != "" {
		v.addf("check options are set on a %s operation", op.Kind)
	}
	if op.Kind != KindRestore && !op.Restore.isZero() {
		v.addf("restore options are set on a %s operation", op.Kind)
	}
}

func (v *validator) backup(o BackupOptions) {
	if len(o.Paths) == 0 {
		v.addf("backup has no paths: give at least one absolute path")
	}
	v.list("backup path", o.Paths, true)
	v.list("exclude pattern", o.Excludes, false)
	if len(o.ExcludeFiles) > maxListLen {
		v.addf("too many exclude files (%d): at most %d", len(o.ExcludeFiles), maxListLen)
	} else {
		for _, f := range o.ExcludeFiles {
			v.existing("exclude file", f, false)
		}
	}
	v.tags("tag", o.Tags)
	v.host(o.Host)
}

func (v *validator) forget(o ForgetOptions) {
	r := o.Retention
	if r.Empty() {
		v.addf("retention policy is empty: set at least one keep rule (last, hourly, daily, weekly, monthly, yearly, within or tags)")
	}
	for _, c := range []struct {
		name string
		n    int
	}{{"last", r.Last}, {"hourly", r.Hourly}, {"daily", r.Daily}, {"weekly", r.Weekly}, {"monthly", r.Monthly}, {"yearly", r.Yearly}} {
		if c.n < 0 || c.n > maxKeepCount {
			v.addf("keep-%s is %d: use a count from 0 (rule off) to %d", c.name, c.n, maxKeepCount)
		}
	}
	if r.Within != "" && !withinRE.MatchString(r.Within) {
		v.addf("keep-within %q is not a restic duration: use years, months, days and hours, e.g. 7d, 12h or 1y2m3d4h", clip(r.Within, 80))
	}
	v.tags("keep-tag", r.Tags)
	v.tags("tag filter", o.FilterTags)
	v.host(o.Host)
}

func (v *validator) readDataSubset(s string) {
	if s == "" {
		return
	}
	if m := subsetPartRE.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		t, _ := strconv.Atoi(m[2])
		if n <= t {
			return
		}
	} else if m := subsetPctRE.FindStringSubmatch(s); m != nil {
		if pct, _ := strconv.ParseFloat(m[1], 64); pct > 0 && pct <= 100 {
			return
		}
	} else if subsetSizeRE.MatchString(s) {
		return
	}
	v.addf("read-data-subset %q is not valid: use n/t (e.g. 1/5), a percentage (e.g. 10%%) or a size (e.g. 500M)", clip(s, 80))
}

func (v *validator) restore(o RestoreOptions) {
	if o.SnapshotID != "latest" && !snapshotIDRE.MatchString(o.SnapshotID) {
		v.addf("snapshot ID %q is not valid: use \"latest\" or 8 to 64 lowercase hex digits", clip(o.SnapshotID, 80))
	}
	v.list("include path", o.Include, false)
	if o.Target == "" {
		v.addf("restore target is empty: give an existing absolute directory")
	} else {
		v.existing("restore target", o.Target, true)
	}
}

// list checks a list of paths or patterns: bounded, no empty entries, no
// NUL or line breaks, and (absolute) absolute paths.
func (v *validator) list(what string, items []string, absolute bool) {
	if len(items) > maxListLen {
		v.addf("too many %ss (%d): at most %d", what, len(items), maxListLen)
		return
	}
	for _, it := range items {
		switch {
		case it == "":
			v.addf("%s is empty", what)
		case len(it) > maxFieldLen || strings.ContainsAny(it, "\x00\r\n"):
			v.addf("%s %q is longer than %d bytes or contains a line break or NUL byte", what, clip(it, 80), maxFieldLen)
		case absolute && !filepath.IsAbs(it):
			v.addf("%s %q is not absolute: give full paths such as /home/alice or C:\\Users\\alice", what, clip(it, 80))
		}
	}
}

// existing checks that path is absolute and exists as a directory (dir) or
// a regular file.
func (v *validator) existing(what, path string, dir bool) {
	if len(path) > maxFieldLen || strings.ContainsAny(path, "\x00\r\n") || !filepath.IsAbs(path) {
		v.addf("%s %q must be an absolute path without line breaks", what, clip(path, 80))
		return
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		v.addf("%s %q does not exist: create it first", what, path)
	case err != nil:
		v.addf("%s %q cannot be read: %v", what, path, err)
	case dir && !fi.IsDir():
		v.addf("%s %q is not a directory", what, path)
	case !dir && !fi.Mode().IsRegular():
		v.addf("%s %q is not a regular file", what, path)
	}
}

func (v *validator) tags(what string, tags []string) {
	if len(tags) > maxListLen {
		v.addf("too many %ss (%d): at most %d", what, len(tags), maxListLen)
		return
	}
	for _, t := range tags {
		if t == "" || len(t) > 128 || strings.ContainsFunc(t, isControl) || strings.Contains(t, ",") || strings.TrimSpace(t) != t {
			v.addf("%s %q is not valid: use 1 to 128 printable characters, no commas, no leading or trailing spaces", what, clip(t, 80))
		}
	}
}

func (v *validator) host(h string) {
	if h == "" {
		return
	}
	if len(h) > 255 || strings.ContainsFunc(h, func(r rune) bool { return isControl(r) || r == ' ' || r == ',' }) {
		v.addf("host %q is not valid: use up to 255 characters without spaces or commas", clip(h, 80))
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
