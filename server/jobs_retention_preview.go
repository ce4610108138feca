package server

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// PreviewExpiry is how long a retention preview waits for its host: it
// answers a question asked while editing a policy, and is worth nothing an
// hour later.
const PreviewExpiry = 10 * time.Minute

// PreviewRetention queues a dry-run forget of the group's snapshots (those
// carrying its group tag) with policy, which is validated and not saved.
// The finished job's Summary lists what forget would remove now
// (WouldRemove) and how many snapshots it keeps (SnapshotsKept). Needs
// PermConfigure (it is part of editing a policy); audited as a job.create
// with preview set. A dry run removes nothing, and the server treats its
// end as no forget: no monitor event goes out for it.
func (s *Service) PreviewRetention(ctx context.Context, a Actor, hostID, groupRef string, policy topics.Retention) (*Job, error) {
	if err := a.require(PermConfigure); err != nil {
		return nil, err
	}
	policy.Within = strings.TrimSpace(policy.Within)
	policy.Tags = cleanList(policy.Tags)
	if len(policy.Tags) == 0 {
		policy.Tags = nil
	}
	if err := policy.Validate(); err != nil {
		return nil, &Error{Code: CodeInvalid, Message: sentence(err.Error())}
	}
	if _, err := s.GetHost(ctx, hostID); err != nil {
		return nil, err
	}
	g, err := findGroup(ctx, s.db, hostID, groupRef)
	if err != nil {
		return nil, internal("Could not load the source group", err)
	}
	if g == nil {
		return nil, noGroup(CodeNotFound, groupRef)
	}
	spec := topics.JobSpec{Kind: topics.JobForget, Retention: &policy, DryRun: true,
		FilterTags: []string{topics.GroupTag(groupKey(g.ID))}}
	return s.queueJob(ctx, a, hostID, JobRequest{Spec: spec, ExpiresIn: PreviewExpiry},
		map[string]any{"preview": true, "source_group": groupKey(g.ID)})
}

// isPreview reports whether a stored spec is a retention preview (a
// dry-run forget).
func isPreview(kind, spec string) bool {
	var sp struct {
		DryRun bool `json:"dry_run"`
	}
	return kind == string(topics.JobForget) && json.Unmarshal([]byte(spec), &sp) == nil && sp.DryRun
}
