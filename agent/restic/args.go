package restic

import (
	"fmt"
	"strconv"

	"github.com/restic-manager/restic-manager/topics"
)

// Args returns restic's command line for op (without the program name),
// after validating op. It never contains the repository, the password or
// any backend value: those go through the environment. Options are written
// as --name=value and positional arguments follow "--", so no value can be
// mistaken for a flag. `unlock` is always plain `restic unlock`, which
// removes stale locks only; --remove-all is never used, because it would
// break a backup that another machine is running.
func Args(op Op) ([]string, error) {
	if err := op.Validate(); err != nil {
		return nil, err
	}
	if op.Kind == topics.JobDrill {
		return nil, fmt.Errorf("%w (%s): a drill is several restic runs (Runner.Ls, then a restore), not one", ErrInvalidOp, op.Kind)
	}
	args := []string{string(op.Kind), "--json"}
	if op.Bandwidth.UpKBps > 0 {
		args = append(args, "--limit-upload="+strconv.Itoa(op.Bandwidth.UpKBps))
	}
	if op.Bandwidth.DownKBps > 0 {
		args = append(args, "--limit-download="+strconv.Itoa(op.Bandwidth.DownKBps))
	}
	switch op.Kind {
	case topics.JobBackup:
		args = backupArgs(args, op.Backup)
	case topics.JobForget:
		args = forgetArgs(args, op.Forget)
	case topics.JobCheck:
		if op.Check.ReadDataSubset != "" {
			args = append(args, "--read-data-subset="+op.Check.ReadDataSubset)
		}
	case topics.JobStats:
		// The bytes the repository stores (#13): raw-data counts every
		// blob once, as packed, and the uncompressed size beside it.
		args = append(args, "--mode=raw-data")
	case topics.JobRestore:
		// --verbose=2: one verbose_status per item (restic 0.17+), so that
		// files and folders are counted apart (RestoreCount).
		args = append(args, "--verbose=2", "--target="+op.Restore.Target)
		if op.Restore.Overwrite != "" {
			args = append(args, "--overwrite="+string(op.Restore.Overwrite))
		}
		if op.Restore.Verify {
			args = append(args, "--verify")
		}
		args = appendEach(args, "--include=", op.Restore.Include)
		args = append(args, "--", op.Restore.SnapshotID)
	}
	return args, nil
}

func backupArgs(args []string, o BackupOptions) []string {
	if o.Host != "" {
		args = append(args, "--host="+o.Host)
	}
	args = appendEach(args, "--tag=", o.Tags)
	args = appendEach(args, "--exclude=", o.Excludes)
	args = appendEach(args, "--exclude-file=", o.ExcludeFiles)
	if o.ExcludeCaches {
		args = append(args, "--exclude-caches")
	}
	if o.OneFileSystem {
		args = append(args, "--one-file-system")
	}
	args = append(args, "--")
	return append(args, o.Paths...)
}

func forgetArgs(args []string, o ForgetOptions) []string {
	r := o.Retention
	for _, c := range []struct {
		flag string
		n    int
	}{
		{"--keep-last=", r.Last}, {"--keep-hourly=", r.Hourly}, {"--keep-daily=", r.Daily},
		{"--keep-weekly=", r.Weekly}, {"--keep-monthly=", r.Monthly}, {"--keep-yearly=", r.Yearly},
	} {
		if c.n > 0 {
			args = append(args, c.flag+strconv.Itoa(c.n))
		}
	}
	if r.Within != "" {
		args = append(args, "--keep-within="+r.Within)
	}
	args = appendEach(args, "--keep-tag=", r.Tags)
	if o.Host != "" {
		args = append(args, "--host="+o.Host)
	}
	args = appendEach(args, "--tag=", o.FilterTags)
	if o.DryRun {
		args = append(args, "--dry-run")
	}
	if o.Prune {
		args = append(args, "--prune")
	}
	return args
}

func appendEach(args []string, flag string, values []string) []string {
	for _, v := range values {
		args = append(args, flag+v)
	}
	return args
}
