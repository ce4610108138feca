package restic

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/restic-manager/restic-manager/topics"
)

// ErrInvalidOp marks an Op that Validate refused. restic was not run; the
// message says which field is wrong and what would be accepted.
var ErrInvalidOp = errors.New("invalid restic operation")

// Validate checks op and reports all problems at once, as an error wrapping
// ErrInvalidOp. The rules of the wire (what a job spec and a repository may
// say, which values restic accepts) are topics' (JobSpec.Validate,
// RepositoryConfig.Validate), applied to op as the spec it stands for; only
// what the host alone can check is added here: paths absolute on this OS, a
// restore target and exclude files that exist. So the answer can change
// with the file system.
func (op Op) Validate() error {
	var v validator
	repo := topics.RepositoryConfig{URL: op.Repository.URL, Password: op.Repository.Password, Env: op.Repository.Env}
	if err := repo.Validate(); err != nil {
		v.addf("%v", err)
	} else if err := topics.CheckRepositoryURL(repo.URL, filepath.IsAbs); err != nil {
		// A local path absolute on another OS only.
		v.addf("%v", err)
	}
	spec := op.spec()
	if err := spec.Validate(); err != nil {
		v.addf("%v", err)
	} else {
		v.onThisHost(op)
	}
	v.host(op)
	if len(v.problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w (%s): %s", ErrInvalidOp, op.Kind, strings.Join(v.problems, "; "))
}

// spec is the job spec op stands for (its options, its bandwidth).
func (op Op) spec() topics.JobSpec {
	s := topics.JobSpec{
		Kind:              topics.JobKind(op.Kind),
		Paths:             op.Backup.Paths,
		Excludes:          op.Backup.Excludes,
		Tags:              op.Backup.Tags,
		ExcludeFiles:      op.Backup.ExcludeFiles,
		ExcludeCaches:     op.Backup.ExcludeCaches,
		OneFileSystem:     op.Backup.OneFileSystem,
		Prune:             op.Forget.Prune,
		DryRun:            op.Forget.DryRun,
		FilterTags:        op.Forget.FilterTags,
		ReadDataSubset:    op.Check.ReadDataSubset,
		Snapshot:          op.Restore.SnapshotID,
		Include:           op.Restore.Include,
		Target:            op.Restore.Target,
		Overwrite:         op.Restore.Overwrite,
		Verify:            op.Restore.Verify,
		BandwidthUpKBps:   op.Bandwidth.UpKBps,
		BandwidthDownKBps: op.Bandwidth.DownKBps,
	}
	if op.Kind == topics.JobForget || !op.Forget.Retention.Empty() {
		r := op.Forget.Retention
		s.Retention = &r
	}
	return s
}

type validator struct{ problems []string }

func (v *validator) addf(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

// onThisHost checks what a valid spec leaves to the host: backup paths
// absolute on this OS, exclude files and a restore target that exist.
func (v *validator) onThisHost(op Op) {
	switch op.Kind {
	case topics.JobBackup:
		for _, p := range op.Backup.Paths {
			if !filepath.IsAbs(p) {
				v.addf("backup path %q is not absolute on this host: give full paths such as /home/alice or C:\\Users\\alice", clip(p, 80))
			}
		}
		for _, f := range op.Backup.ExcludeFiles {
			v.existing("exclude file", f, false)
		}
	case topics.JobRestore:
		v.existing("restore target", op.Restore.Target, true)
	}
}

// existing checks that path is absolute on this OS and exists as a
// directory (dir) or a regular file.
func (v *validator) existing(what, path string, dir bool) {
	if !filepath.IsAbs(path) {
		v.addf("%s %q is not an absolute path on this host", what, clip(path, 80))
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

// host checks the Host option (set by the agent, never on the wire): only
// on the kind it belongs to, no spaces or commas.
func (v *validator) host(op Op) {
	for _, o := range []struct {
		kind topics.JobKind
		host string
	}{{topics.JobBackup, op.Backup.Host}, {topics.JobForget, op.Forget.Host}} {
		switch h := o.host; {
		case h == "":
		case op.Kind != o.kind:
			v.addf("%s options are set on a %s operation", o.kind, op.Kind)
		case len(h) > 255 || strings.ContainsFunc(h, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' || r == ',' }):
			v.addf("host %q is not valid: use up to 255 characters without spaces or commas", clip(h, 80))
		}
	}
}
