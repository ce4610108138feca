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
// repository of the applied config, within its host-wide bandwidth caps
// (hostCap; the spec's own limits win, direction by direction). It returns a one-sentence reason
// instead when the job cannot run on this host: no repository, or an
// operation restic.Op.Validate refuses. That applies topics' rules (the
// server's: the only validator of a spec) and adds only what this host can
// check (a restore target that does not exist, a path that is not absolute
// on this OS, ...), so a spec the server accepted fails here only for a
// reason of this host (FuzzSpecAgreement).
func opFor(spec *topics.JobSpec, repo *restic.Repository, hostCap topics.Bandwidth) (restic.Op, string) {
	if repo == nil {
		return restic.Op{}, reasonNoRepository
	}
	// The Op cannot show all of the spec (its source group, forget after).
	if err := spec.Validate(); err != nil {
		return restic.Op{}, "the job's spec is invalid: " + err.Error()
	}
	op := restic.Op{
		Kind:       spec.Kind,
		Repository: *repo,
		Bandwidth:  bandwidthFor(spec, hostCap),
	}
	switch spec.Kind {
	case topics.JobBackup:
		op.Backup = restic.BackupOptions{Paths: spec.Paths, Excludes: spec.Excludes, ExcludeFiles: spec.ExcludeFiles,
			ExcludeCaches: spec.ExcludeCaches, OneFileSystem: spec.OneFileSystem, Tags: spec.Tags}
	case topics.JobForget:
		if r := spec.Retention; r != nil {
			op.Forget.Retention = *r
		}
		op.Forget.Prune, op.Forget.DryRun, op.Forget.FilterTags = spec.Prune, spec.DryRun, spec.FilterTags
	case topics.JobCheck:
		op.Check.ReadDataSubset = spec.ReadDataSubset
	case topics.JobRestore:
		op.Restore = restic.RestoreOptions{SnapshotID: spec.Snapshot, Include: spec.Include, Target: spec.Target,
			Overwrite: spec.Overwrite, Verify: spec.Verify}
	}
	if err := op.Validate(); err != nil {
		return restic.Op{}, invalidOpReason(op.Kind, err)
	}
	return op, ""
}

// forgetAfterOp is the forget a backup with ForgetAfter runs once it made
// its snapshot: the group's retention, applied to the group's snapshots
// only (its tag), with the backup's bandwidth.
func forgetAfterOp(spec *topics.JobSpec, backup restic.Op) restic.Op {
	return restic.Op{
		Kind:       topics.JobForget,
		Repository: backup.Repository,
		Bandwidth:  backup.Bandwidth,
		Forget: restic.ForgetOptions{Retention: *spec.ForgetAfter,
			FilterTags: []string{topics.GroupTag(spec.SourceGroup)}},
	}
}

// bandwidthFor is the job's caps: its own limit where it gives one, the
// host-wide cap of the applied config otherwise.
func bandwidthFor(spec *topics.JobSpec, hostCap topics.Bandwidth) topics.Bandwidth {
	bw := hostCap
	if spec.BandwidthUpKBps > 0 {
		bw.UpKBps = spec.BandwidthUpKBps
	}
	if spec.BandwidthDownKBps > 0 {
		bw.DownKBps = spec.BandwidthDownKBps
	}
	return bw
}

// invalidOpReason is Validate's message without its package prefix: the
// problems themselves, which already say what to do.
func invalidOpReason(kind topics.JobKind, err error) string {
	msg := err.Error()
	if errors.Is(err, restic.ErrInvalidOp) {
		msg = strings.TrimPrefix(msg, fmt.Sprintf("%s (%s): ", restic.ErrInvalidOp, kind))
	}
	return "the job cannot run on this host: " + msg
}
