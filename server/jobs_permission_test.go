package server_test

import (
	"github.com/restic-manager/restic-manager/server"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// TestRemovingDataIsAdminOnly: in the domain, the one place web and API
// both go through, an operator may not queue a job that removes data (an
// ad-hoc forget or prune, a backup with a forget policy of its own); a
// dry-run forget and an init remove nothing and stay allowed; an admin may
// do all of it. A refusal queues and audits nothing.
func TestRemovingDataIsAdminOnly(t *testing.T) {
	f := newJobsFixture(t)
	f.ready(t)
	ctx := t.Context()
	keep := &topics.Retention{Last: 3}
	cases := []struct {
		spec    topics.JobSpec
		removes bool
	}{
		{topics.JobSpec{Kind: topics.JobForget, Retention: keep}, true},
		{topics.JobSpec{Kind: topics.JobForget, Retention: keep, Prune: true}, true},
		{topics.JobSpec{Kind: topics.JobPrune}, true},
		{topics.JobSpec{Kind: topics.JobInit}, false}, // restic never inits over a repository
		{topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"/etc"}, SourceGroup: "sg_1", ForgetAfter: keep}, true},
		{topics.JobSpec{Kind: topics.JobForget, Retention: keep, DryRun: true}, false},
		{topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"/etc"}}, false},
		{topics.JobSpec{Kind: topics.JobCheck}, false},
		{topics.JobSpec{Kind: topics.JobUnlock}, false},
		{topics.JobSpec{Kind: topics.JobSnapshots}, false},
		{topics.JobSpec{Kind: topics.JobRestore, Snapshot: "latest", Target: "/srv/restore"}, false},
	}
	for _, tc := range cases {
		jobs, audits := f.countJobs(t), countRows(t, f.s, "audit_log")
		_, err := f.s.CreateJob(ctx, f.operator, f.host, server.JobRequest{Spec: tc.spec})
		if !tc.removes {
			if err != nil {
				t.Errorf("operator %s: %v", tc.spec.Kind, err)
			}
			continue
		}
		if server.ErrorCodeOf(err) != server.CodeForbidden || !strings.HasPrefix(server.PublicMessage(err), "Your role (operator) may not run "+string(tc.spec.Kind)+": ") ||
			!strings.HasSuffix(server.PublicMessage(err), " is admin-only; ask an admin.") {
			t.Errorf("operator %+v: %v", tc.spec, err)
		}
		if f.countJobs(t) != jobs || countRows(t, f.s, "audit_log") != audits {
			t.Errorf("operator %s: a refused job was queued or audited", tc.spec.Kind)
		}
		if tc.spec.ForgetAfter != nil {
			continue // not a spec a request can carry (a group's comes from the group); the refusal is what matters
		}
		if _, err := f.s.CreateJob(ctx, f.admin, f.host, server.JobRequest{Spec: tc.spec}); err != nil {
			t.Errorf("admin %s: %v", tc.spec.Kind, err)
		}
	}
	if got := server.PublicMessage(f.operator.RequireJobKind(topics.JobSpec{Kind: topics.JobForget, Retention: keep})); got !=
		"Your role (operator) may not run forget: removing snapshots is admin-only; ask an admin." {
		t.Errorf("refusal = %q", got)
	}
}
