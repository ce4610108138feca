package restic

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/restic-manager/restic-manager/topics"
)

// Op is one restic operation to run: what, against which repository, with
// which options, and where its output goes. Only the options of its Kind
// (a topics.JobKind: the wire's kinds are the runner's) may
// be set; Validate refuses an Op carrying another kind's options, because
// that is a wiring mistake that would otherwise be silently ignored.
type Op struct {
	Kind       topics.JobKind
	Repository Repository

	Backup  BackupOptions
	Forget  ForgetOptions
	Check   CheckOptions
	Restore RestoreOptions

	// Bandwidth limits restic's traffic to the repository (any kind), in
	// KiB/s (--limit-upload, --limit-download); zero means unlimited.
	Bandwidth topics.Bandwidth

	// OnLine, if set, receives every line restic prints, for the job log:
	// stream is StreamStdout or StreamStderr; line has no trailing newline,
	// terminal escapes removed, secrets replaced by "[redacted]" and is
	// clipped to topics.MaxLogLine bytes. Two kinds of line are not passed verbatim:
	// JSON "status" messages (they feed OnProgress instead, restic prints
	// dozens a second) and the one-line JSON arrays of `snapshots`/`forget`
	// (a short description is passed instead; the decoded data is in Result).
	// Callbacks run one at a time and must return quickly: while one runs,
	// restic's output, and so restic, waits.
	OnLine func(stream Stream, line string)

	// OnStart, if set, is called each time a restic process of this
	// operation has started, with its argv without the program name (no
	// secrets in it; see Args), before any of its lines reach OnLine. An
	// operation may start more than one: after an init that found a
	// repository, `restic cat config` checks that it opens.
	OnStart func(args []string)

	// OnProgress, if set, receives progress (backup and restore), at most
	// once per second; the first status is delivered at once.
	OnProgress func(Progress)
}

// Stream says which of restic's outputs a line came from.
type Stream string

// The two streams restic writes to.
const (
	StreamStdout Stream = "stdout"
	StreamStderr Stream = "stderr"
)

// Repository is where restic stores data and how to open it. URL, Password
// and the values of Env are secrets: they reach restic only through its
// environment (RESTIC_REPOSITORY, RESTIC_PASSWORD, the names in Env), never
// its argv, and String and LogValue never show them.
type Repository struct {
	// URL is a restic repository location: an absolute local path (or
	// local:/path) or a backend URL such as sftp:host:/srv/restic,
	// rest:https://host/, s3:https://host/bucket, b2:bucket:path.
	URL string
	// Password opens the repository.
	Password string
	// Env holds backend credentials and settings, e.g. AWS_ACCESS_KEY_ID,
	// B2_ACCOUNT_KEY, RESTIC_REST_USERNAME. Names must pass
	// topics.CheckBackendEnvName.
	Env map[string]string
}

// String describes r without its secrets.
func (r Repository) String() string {
	return fmt.Sprintf("repository %s (password and %d env values redacted)", RedactURL(r.URL), len(r.Env))
}

// LogValue makes slog print r without its secrets.
func (r Repository) LogValue() slog.Value {
	names := make([]string, 0, len(r.Env))
	for name := range r.Env {
		names = append(names, name)
	}
	slices.Sort(names)
	return slog.GroupValue(
		slog.String("url", RedactURL(r.URL)),
		slog.String("env_names", strings.Join(names, ",")),
	)
}

// BackupOptions are the options of a topics.JobBackup Op.
type BackupOptions struct {
	// Paths to back up; absolute, at least one.
	Paths []string
	// Excludes are restic exclude patterns (--exclude).
	Excludes []string
	// ExcludeFiles are absolute paths of files of exclude patterns
	// (--exclude-file); each must exist.
	ExcludeFiles []string
	// ExcludeCaches skips directories holding a CACHEDIR.TAG.
	ExcludeCaches bool
	// OneFileSystem stays on the file systems of Paths.
	OneFileSystem bool
	// Tags are added to the snapshot.
	Tags []string
	// Host overrides the host name stored in the snapshot.
	Host string
}

func (o BackupOptions) isZero() bool {
	return len(o.Paths) == 0 && len(o.Excludes) == 0 && len(o.ExcludeFiles) == 0 &&
		!o.ExcludeCaches && !o.OneFileSystem && len(o.Tags) == 0 && o.Host == ""
}

// ForgetOptions are the options of a topics.JobForget Op.
type ForgetOptions struct {
	// Retention is the policy: which snapshots to keep. At least one rule
	// must be set, since an empty policy would make restic keep (or, with
	// some versions, refuse to judge) everything.
	Retention topics.Retention
	// Prune also removes the data no snapshot uses any more (--prune).
	Prune bool
	// DryRun only reports what would be removed.
	DryRun bool
	// Host, if set, limits forget to snapshots of that host.
	Host string
	// FilterTags limits forget to snapshots carrying any of these tags
	// (one --tag each), e.g. a source group's tag.
	FilterTags []string
}

func (o ForgetOptions) isZero() bool {
	return o.Retention.Empty() && !o.Prune && !o.DryRun && o.Host == "" && len(o.FilterTags) == 0
}

// CheckOptions are the options of a topics.JobCheck Op.
type CheckOptions struct {
	// ReadDataSubset also reads and verifies part of the data: "n/t" (part
	// n of t), "x%" / "x.y%", or a size such as "500M". Empty reads none.
	ReadDataSubset string
}

// RestoreOptions are the options of a topics.JobRestore Op.
type RestoreOptions struct {
	// SnapshotID is a snapshot ID (8 to 64 hex digits) or "latest".
	SnapshotID string
	// Include limits the restore to these paths or patterns (--include).
	Include []string
	// Target is an existing directory, absolute, to restore into.
	Target string
	// Overwrite is --overwrite (restic 0.17+); empty leaves restic's
	// default and the flag out, so an older restic runs too.
	Overwrite topics.OverwritePolicy
	// Verify reads every restored file back and compares it (--verify).
	Verify bool
}

func (o RestoreOptions) isZero() bool {
	return o.SnapshotID == "" && len(o.Include) == 0 && o.Target == "" && o.Overwrite == "" && !o.Verify
}
