package server_test

import (
	"github.com/restic-manager/restic-manager/server"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

func TestBackupOfASourceGroup(t *testing.T) {
	f := newJobsFixture(t)
	f.ready(t)
	ctx := t.Context()
	g := f.group(t, etcGroup)
	for _, ref := range []string{"system", g.Key} {
		j, err := f.s.CreateJob(ctx, f.operator, f.host, server.JobRequest{SourceGroup: ref,
			Spec: topics.JobSpec{Kind: topics.JobBackup, BandwidthUpKBps: 100}})
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		sp := j.Spec
		if j.SourceGroupID != g.ID || j.SourceGroupName != "System" || sp.SourceGroup != g.Key ||
			strings.Join(sp.Paths, ",") != "/etc,/var/lib" || strings.Join(sp.Excludes, ",") != "*.tmp" ||
			strings.Join(sp.ExcludeFiles, ",") != "/etc/restic-excludes" || !sp.ExcludeCaches || !sp.OneFileSystem ||
			!slices.Equal(sp.Tags, []string{"sys", topics.GroupTag(g.Key)}) || sp.ForgetAfter == nil || sp.ForgetAfter.Daily != 7 ||
			sp.BandwidthUpKBps != 100 {
			t.Fatalf("%s: job %+v", ref, j)
		}
		// The agent gets the filled spec.
		if cmds := f.agent.Commands(t, f.pub); cmds[len(cmds)-1].Job != j.UID || cmds[len(cmds)-1].Spec.SourceGroup != g.Key {
			t.Fatalf("%s: command %+v", ref, cmds[len(cmds)-1])
		}
	}
	// Without forget-after-backup the spec has no forget policy.
	in := etcGroup
	in.Name, in.ForgetAfterBackup = "Plain", false
	f.group(t, in)
	if j, err := f.s.CreateJob(ctx, f.operator, f.host, server.JobRequest{SourceGroup: "plain"}); err != nil || j.Spec.ForgetAfter != nil || j.Kind != topics.JobBackup {
		t.Fatalf("plain group (kind left out): %v %+v", err, j)
	}
	before := f.countJobs(t)
	for name, req := range map[string]server.JobRequest{
		"group and paths":  {SourceGroup: "system", Spec: topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"/home"}}},
		"group and tags":   {SourceGroup: "system", Spec: topics.JobSpec{Kind: topics.JobBackup, Tags: []string{"x"}}},
		"group on a check": {SourceGroup: "system", Spec: topics.JobSpec{Kind: topics.JobCheck}},
		"unknown group":    {SourceGroup: "nope", Spec: topics.JobSpec{Kind: topics.JobBackup}},
	} {
		if _, err := f.s.CreateJob(ctx, f.operator, f.host, req); server.ErrorCodeOf(err) != server.CodeInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	if n := f.countJobs(t); n != before {
		t.Fatalf("refused requests stored %d jobs", n-before)
	}
	audit, err := f.s.ListAudit(ctx, server.AuditFilter{Action: "job.create", Limit: 1})
	if err != nil || !strings.Contains(audit[0].Details, `"source_group":"sg_`) {
		t.Fatalf("audit: %v %+v", err, audit)
	}
	// The group's last backup is its newest job.
	got, err := f.s.GetSourceGroup(ctx, f.host, "System")
	if err != nil || got.LastBackup == nil || got.LastBackup.Status != topics.JobQueued {
		t.Fatalf("last backup: %v %+v", err, got)
	}
}

func TestPreviewRetention(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	g := f.group(t, server.SourceGroupInput{Name: "Home", Paths: []string{"/home"}, Retention: &topics.Retention{Last: 30}})
	policy := topics.Retention{Daily: 7, Within: " 2d "}
	if _, err := f.s.PreviewRetention(ctx, f.admin, f.host, "Home", policy); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Fatalf("preview without a repository: %v", err)
	}
	f.ready(t)
	for name, c := range map[string]struct {
		ref    string
		policy topics.Retention
		code   server.ErrorCode
	}{
		"empty policy": {"Home", topics.Retention{}, server.CodeInvalid},
		"bad within":   {"Home", topics.Retention{Within: "a week"}, server.CodeInvalid},
		"no group":     {"Nope", policy, server.CodeNotFound},
	} {
		if _, err := f.s.PreviewRetention(ctx, f.admin, f.host, c.ref, c.policy); server.ErrorCodeOf(err) != c.code {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
	}
	j, err := f.s.PreviewRetention(ctx, f.admin, f.host, g.Key, policy)
	if err != nil {
		t.Fatal(err)
	}
	sp := j.Spec
	if j.Kind != topics.JobForget || !sp.DryRun || sp.Prune || sp.Retention == nil || sp.Retention.Daily != 7 || sp.Retention.Within != "2d" ||
		!slices.Equal(sp.FilterTags, []string{topics.GroupTag(g.Key)}) || j.SourceGroupID != 0 ||
		j.ExpiresAt.Sub(j.CreatedAt) != server.PreviewExpiry || j.CreatedBy != "ada" {
		t.Fatalf("preview job: %+v", j)
	}
	// The saved policy is untouched.
	if got, _ := f.s.GetSourceGroup(ctx, f.host, "Home"); got.Retention.Last != 30 || got.Retention.Daily != 0 || got.LastBackup != nil {
		t.Fatalf("group after preview: %+v", got)
	}
	if cmds := f.agent.Commands(t, f.pub); cmds[len(cmds)-1].Job != j.UID || !cmds[len(cmds)-1].Spec.DryRun {
		t.Fatalf("command: %+v", cmds[len(cmds)-1])
	}
	gone := []string{strings.Repeat("a", 64), strings.Repeat("b", 64)}
	f.finish(t, j.UID, topics.JobSucceeded, &topics.JobResult{ExitCode: intp(0), WouldRemove: gone, SnapshotsKept: 7})
	done := f.job(t, j.ID)
	if done.Summary == nil || !slices.Equal(done.Summary.WouldRemove, gone) || done.Summary.SnapshotsKept != 7 {
		t.Fatalf("preview result: %+v", done.Summary)
	}
	// Monitors hear of real jobs finishing, not of a preview.
	for _, m := range f.pub.On(topics.MonitorEventsTopic()) {
		var e topics.MonitorEvent
		if topics.Decode(m.Payload, &e) == nil && e.Job == j.ID {
			t.Fatalf("monitor event for a preview: %+v", e)
		}
	}
	audit, err := f.s.ListAudit(ctx, server.AuditFilter{Action: "job.create", Limit: 1})
	if err != nil || !strings.Contains(audit[0].Details, `"preview":true`) {
		t.Fatalf("audit: %v %+v", err, audit)
	}
	// An unanswered preview expires soon.
	stale, err := f.s.PreviewRetention(ctx, f.admin, f.host, "Home", policy)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(server.PreviewExpiry + 5*time.Minute)
	if err := f.s.SweepJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if j := f.job(t, stale.ID); j.Status != topics.JobExpired {
		t.Fatalf("stale preview: %+v", j)
	}
	for _, m := range f.pub.On(topics.MonitorEventsTopic()) {
		var e topics.MonitorEvent
		if topics.Decode(m.Payload, &e) == nil && e.Job == stale.ID {
			t.Fatalf("monitor event for an expired preview: %+v", e)
		}
	}
}
