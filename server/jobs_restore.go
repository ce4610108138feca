package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// Restore anywhere (#14). A restore job runs on its target host. It reads
// the target host's own repository, or — a cross-host restore, the spec
// naming a source_host — the source host's: the run command then carries
// that repository, unsealed from the source's stored copy each time the
// command is built (runCommandFor), so the jobs table never holds it and a
// repository changed meanwhile is the one used.
//
// The snapshot of a cross-host restore is resolved here, against the
// source host's snapshot list as the server holds it, and stored as a full
// id: a repository may be shared by several hosts, and snapshot ids are
// repository-wide, so "latest" means the source host's latest (its
// snapshots whose restic hostname is the source host's, else its list's
// newest), and an id must be in that list. The job then restores exactly
// the snapshot the audit row and the job page name.

// restoreSource checks a cross-host restore's source and resolves its
// snapshot in spec (to a full id). It refuses, with a sentence, a source
// that is the target itself, unknown or revoked, without a repository, or
// a snapshot the source's list does not hold.
func (s *Service) restoreSource(ctx context.Context, targetID string, spec *topics.JobSpec) (*Host, error) {
	if spec.SourceHost == targetID {
		return nil, invalidf("The source host is the host the files go to; leave source_host out to restore from its own repository.")
	}
	src, err := s.GetHost(ctx, spec.SourceHost)
	if err != nil {
		if ErrorCodeOf(err) == CodeNotFound {
			return nil, invalidf("There is no host %q to restore from; take the source host's ID from the hosts list.", clipText(spec.SourceHost))
		}
		return nil, err
	}
	repo, err := s.loadRepository(ctx, s.db, src.ID)
	if err != nil {
		return nil, internal("Could not load the source host's repository", err)
	}
	if repo == nil {
		return nil, invalidf("Host %s has no repository to restore from; set its repository first.", src.Name)
	}
	list, err := s.Snapshots(ctx, src.ID)
	if err != nil {
		return nil, err
	}
	id, err := sourceSnapshot(list.Snapshots, src, spec.Snapshot)
	if err != nil {
		return nil, err
	}
	spec.Snapshot = id
	return src, nil
}

// sourceSnapshot finds ref ("latest" or an id or its prefix) in the source
// host's snapshot list (newest first) and returns its full id.
func sourceSnapshot(snaps []Snapshot, src *Host, ref string) (string, error) {
	if len(snaps) == 0 {
		return "", invalidf("The server knows no snapshots of %s; run a backup or Refresh list on it first.", src.Name)
	}
	if ref == "latest" {
		if i := slices.IndexFunc(snaps, func(sn Snapshot) bool { return src.Hostname != "" && sn.Hostname == src.Hostname }); i >= 0 {
			return snaps[i].ID, nil
		}
		return snaps[0].ID, nil
	}
	var found []string
	for _, sn := range snaps {
		if strings.HasPrefix(sn.ID, ref) {
			found = append(found, sn.ID)
		}
	}
	switch len(found) {
	case 0:
		return "", invalidf("Snapshot %s is not in %s's snapshot list; pick one from that host's snapshots (or Refresh list there).", clipText(ref), src.Name)
	case 1:
		return found[0], nil
	}
	return "", invalidf("Snapshot %s matches %d snapshots of %s; give more of its id.", clipText(ref), len(found), src.Name)
}

// restoreAudit is what a restore's job.create audit row adds: the
// snapshot, includes, target and options, whether it overwrites the
// original location, and for a cross-host restore the source host (never
// its credentials).
func restoreAudit(spec topics.JobSpec, src *Host) map[string]any {
	d := map[string]any{"snapshot": spec.Snapshot, "include": spec.Include, "target": spec.Target,
		"overwrite": string(spec.Overwrite), "verify": spec.Verify, "original_location": spec.RestoresInPlace()}
	if d["include"] == nil {
		d["include"] = []string{}
	}
	if src != nil {
		d["source_host_id"], d["source_host"] = src.ID, src.Name
	}
	return d
}

// runCommandFor is the job's run command as it is sent now: the stored
// spec, plus, for a cross-host restore, the source host's repository. A
// source that lost its repository since the job was queued gets no
// command (an error; the job waits until it expires).
func (s *Service) runCommandFor(ctx context.Context, r *jobRow, now time.Time) (*topics.Command, error) {
	cmd, err := r.runCommand(now)
	if err != nil || !cmd.Spec.IsCrossHost() {
		return cmd, err
	}
	repo, err := s.loadRepository(ctx, s.db, cmd.Spec.SourceHost)
	if err != nil {
		return nil, err
	}
	if repo == nil {
		return nil, fmt.Errorf("job %d: source host %s has no repository any more", r.ID, cmd.Spec.SourceHost)
	}
	cmd.SourceRepository = repo
	return cmd, nil
}
