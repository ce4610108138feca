package agent

import (
	"errors"
	"fmt"
	"strings"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// reasonNoRepository is why a job fails when the applied config has no
// repository.
const reasonNoRepository = "this host has no repository configured yet: set one for it on the server (the host's repository page), then run the job again"

// opFor turns a job's spec into the restic operation it runs, against the
// repository of the applied config. It returns a one-sentence reason
// instead when the job cannot run on this host: no repository, or an
// operation restic.Op.Validate refuses here (a restore target that does not
// exist, a path that is not absolute on this OS, ...).
func opFor(spec *topics.JobSpec, repo *restic.Repository) (restic.Op, string) {
	if repo == nil {
		return restic.Op{}, reasonNoRepository
	}
	op := restic.Op{
		Kind:       restic.Kind(spec.Kind),
		Repository: *repo,
		Bandwidth:  restic.Bandwidth{UploadKiB: spec.BandwidthUpKBps, DownloadKiB: spec.BandwidthDownKBps},
	}
	switch spec.Kind {
	case topics.JobBackup:
		op.Backup = restic.BackupOptions{Paths: spec.Paths, Excludes: spec.Excludes, Tags: spec.Tags}
	case topics.JobForget:
		if r := spec.Retention; r != nil {
			op.Forget.Retention = restic.Retention{Last: r.Last, Hourly: r.Hourly, Daily: r.Daily, Weekly: r.Weekly,
				Monthly: r.Monthly, Yearly: r.Yearly, Within: r.Within, Tags: r.Tags}
		}
		op.Forget.Prune = spec.Prune
	case topics.JobCheck:
		op.Check.ReadDataSubset = spec.ReadDataSubset
	case topics.JobRestore:
		op.Restore = restic.RestoreOptions{SnapshotID: spec.Snapshot, Include: spec.Include, Target: spec.Target}
	}
	if err := op.Validate(); err != nil {
		return restic.Op{}, invalidOpReason(op.Kind, err)
	}
	return op, ""
}

// invalidOpReason is Validate's message without its package prefix: the
// problems themselves, which already say what to do.
func invalidOpReason(kind restic.Kind, err error) string {
	msg := err.Error()
	if errors.Is(err, restic.ErrInvalidOp) {
		msg = strings.TrimPrefix(msg, fmt.Sprintf("%s (%s): ", restic.ErrInvalidOp, kind))
	}
	return "the job cannot run on this host: " + msg
}
