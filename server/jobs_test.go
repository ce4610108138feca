package server_test

import (
	"github.com/restic-manager/restic-manager/server"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

func TestCreateJobRefusesBadSpecs(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	// No repository yet: nothing runs, not even init.
	for _, kind := range []topics.JobKind{topics.JobBackup, topics.JobInit} {
		spec := topics.JobSpec{Kind: kind}
		if kind == topics.JobBackup {
			spec.Paths = []string{"/etc"}
		}
		_, err := f.s.CreateJob(ctx, f.operator, f.host, server.JobRequest{Spec: spec})
		if server.ErrorCodeOf(err) != server.CodeInvalid || server.PublicMessage(err) != "Set the host's repository first." {
			t.Fatalf("%s without a repository: %v", kind, err)
		}
	}
	f.ready(t)
	before := f.countJobs(t)
	for name, req := range map[string]server.JobRequest{
		"unknown kind":             {Spec: topics.JobSpec{Kind: "defrag"}},
		"backup without paths":     {Spec: topics.JobSpec{Kind: topics.JobBackup}},
		"backup relative path":     {Spec: topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"etc"}}},
		"restore relative target":  {Spec: topics.JobSpec{Kind: topics.JobRestore, Snapshot: "latest", Target: "restore/here"}},
		"restore missing target":   {Spec: topics.JobSpec{Kind: topics.JobRestore, Snapshot: "latest"}},
		"restore without snapshot": {Spec: topics.JobSpec{Kind: topics.JobRestore, Target: "/tmp/r"}},
		"forget without retention": {Spec: topics.JobSpec{Kind: topics.JobForget}},
		"paths on a prune":         {Spec: topics.JobSpec{Kind: topics.JobPrune, Paths: []string{"/etc"}}},
		"bad read subset":          {Spec: topics.JobSpec{Kind: topics.JobCheck, ReadDataSubset: "lots"}},
		"negative bandwidth":       {Spec: topics.JobSpec{Kind: topics.JobCheck, BandwidthUpKBps: -1}},
		"expiry too short":         {Spec: topics.JobSpec{Kind: topics.JobCheck}, ExpiresIn: time.Millisecond},
		"negative expiry":          {Spec: topics.JobSpec{Kind: topics.JobCheck}, ExpiresIn: -time.Hour},
		"expiry too long":          {Spec: topics.JobSpec{Kind: topics.JobCheck}, ExpiresIn: 365 * 24 * time.Hour},
	} {
		_, err := f.s.CreateJob(ctx, f.operator, f.host, req)
		if server.ErrorCodeOf(err) != server.CodeInvalid {
			t.Errorf("%s: err = %v, want invalid", name, err)
			continue
		}
		if msg := server.PublicMessage(err); msg[0] < 'A' || msg[0] > 'Z' || !strings.HasSuffix(msg, ".") {
			t.Errorf("%s: message %q is not a sentence", name, msg)
		}
	}
	if n := f.countJobs(t); n != before {
		t.Fatalf("bad specs stored %d jobs", n-before)
	}
	if _, err := f.s.CreateJob(ctx, f.operator, "h_nosuchhost", server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobCheck}}); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("unknown host: %v", err)
	}
	if err := f.s.RevokeHost(ctx, f.admin, f.host, "web-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CreateJob(ctx, f.operator, f.host, server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobCheck}}); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("revoked host: %v", err)
	}
}

func TestJobRoles(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	repo := server.RepositoryInput{URL: "/srv/restic", Password: testRepoPassword}
	if _, err := f.s.SetRepository(ctx, f.operator, f.host, repo); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("operator set a repository: %v", err)
	}
	if _, err := f.s.SetRepository(ctx, f.viewer, f.host, repo); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("viewer set a repository: %v", err)
	}
	f.ready(t)
	spec := server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobCheck, ReadDataSubset: "10%"}}
	if _, err := f.s.CreateJob(ctx, f.viewer, f.host, spec); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("viewer ran a job: %v", err)
	}
	j, err := f.s.CreateJob(ctx, f.operator, f.host, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CancelJob(ctx, f.viewer, j.ID); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("viewer canceled a job: %v", err)
	}
	if _, err := f.s.CancelJob(ctx, f.operator, j.ID); err != nil {
		t.Fatalf("operator cancel: %v", err)
	}
	if _, err := f.s.CreateJob(ctx, f.admin, f.host, spec); err != nil {
		t.Fatalf("admin run: %v", err)
	}
	// Everybody reads.
	if _, err := f.s.GetJob(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	audit, _ := f.s.ListAudit(ctx, server.AuditFilter{Action: "job."})
	if len(audit) != 3 { // create, cancel, create
		t.Fatalf("audit rows %+v", audit)
	}
}

func TestCommandsSentOnlineAndResentAfterHello(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	f.ready(t) // the agent is online with config 1
	if n := len(f.agent.Configs(t, f.pub)); n != 1 {
		t.Fatalf("config sent %d times; the hello reported the current version", n)
	}
	before := len(f.agent.Commands(t, f.pub))
	a := f.backup(t)
	cmds := f.agent.Commands(t, f.pub)[before:]
	if len(cmds) != 1 {
		t.Fatalf("run command not sent to an online host: %+v", cmds)
	}
	run := cmds[0]
	if run.Action != topics.CmdRun || run.Job != a.UID || run.Version != 1 || !run.ExpiresAt.Equal(a.ExpiresAt) ||
		run.ConfigVersion != 1 || run.Spec.Kind != topics.JobBackup || run.Spec.Paths[0] != "/etc" {
		t.Fatalf("run command: %+v", run)
	}
	if m := f.pub.On(topics.CmdTopic(f.host)); m[len(m)-1].QoS != 1 || m[len(m)-1].Retain {
		t.Fatal("commands go QoS 1, not retained")
	}
	b := f.backup(t)
	f.agent.Event(t, b.UID, 2, topics.JobDelivered, nil)
	c := f.backup(t)
	f.agent.Event(t, c.UID, 2, topics.JobDelivered, nil)
	f.agent.Event(t, c.UID, 3, topics.JobRunning, nil)
	d := f.backup(t)
	f.agent.Event(t, d.UID, 2, topics.JobDelivered, nil)
	f.agent.Sync(t)
	if _, err := f.s.CancelJob(ctx, f.operator, d.ID); err != nil {
		t.Fatal(err)
	}

	// The agent reconnects: a (queued) and b (delivered) get their run
	// command again with the same command id, c (running) nothing, d its
	// cancel again.
	ids := map[string]string{}
	for _, cmd := range f.agent.Commands(t, f.pub) {
		ids[cmd.Job+cmd.Action] = cmd.ID
	}
	f.agent.Conn++
	mark := len(f.agent.Commands(t, f.pub))
	f.agent.Connect(t, 1)
	resent := f.agent.Commands(t, f.pub)[mark:]
	got := map[string]bool{}
	for _, cmd := range resent {
		got[cmd.Job+" "+cmd.Action] = true
		if cmd.ID != ids[cmd.Job+cmd.Action] {
			t.Errorf("resent %s %s with a new command id", cmd.Action, cmd.Job)
		}
	}
	want := map[string]bool{a.UID + " run": true, b.UID + " run": true, d.UID + " cancel": true}
	if len(got) != len(want) || len(resent) != len(want) {
		t.Fatalf("resent %v, want %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("resent %v, want %v", got, want)
		}
	}
	if n := len(f.agent.Configs(t, f.pub)); n != 1 {
		t.Fatal("config resent to an agent that has it")
	}
	// An agent that lost its config gets it again.
	f.agent.Conn++
	f.agent.Connect(t, 0)
	if cfgs := f.agent.Configs(t, f.pub); len(cfgs) != 2 || cfgs[1].Version != 1 {
		t.Fatalf("config not resent to an agent reporting an older version: %+v", cfgs)
	}
}

func TestConfigVersionsFromHelloAndStatus(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	f.setRepo(t)
	f.setRepo(t) // version 2
	f.agent.Connect(t, 1)
	if st, _ := f.s.GetRepository(ctx, f.host); st.ConfigVersion != 2 || st.AppliedVersion != 1 {
		t.Fatalf("versions after hello: %+v", st)
	}
	f.agent.Send(t, topics.StatusTopic(f.host), &topics.Status{Envelope: topics.NewEnvelope(topics.TypeStatus, f.host),
		State: topics.StateOnline, BootID: "boot", ConnGen: f.agent.Conn, ConfigVersion: 2})
	if st, _ := f.s.GetRepository(ctx, f.host); st.AppliedVersion != 2 {
		t.Fatalf("versions after status: %+v", st)
	}
	// An agent ahead of the server (the database was restored from a
	// backup) is sent the server's config under a newer version.
	f.agent.Conn++
	f.agent.Connect(t, 7)
	cfgs := f.agent.Configs(t, f.pub)
	if last := cfgs[len(cfgs)-1]; last.Version != 8 || last.Repository == nil {
		t.Fatalf("config after a hello from the future: %+v", last)
	}
	if st, _ := f.s.GetRepository(ctx, f.host); st.ConfigVersion != 8 {
		t.Fatalf("desired version not moved past the agent's: %+v", st)
	}
}

func TestCancelJob(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	f.ready(t)

	// Queued, never delivered: canceled at once, and the cancel goes out
	// in case the run command is on its way.
	q := f.backup(t)
	j, err := f.s.CancelJob(ctx, f.operator, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != topics.JobCanceled || j.Version != 2 || j.FinishedAt == nil || !j.CancelRequested || j.Reason == "" {
		t.Fatalf("canceled while queued: %+v", j)
	}
	cmds := f.agent.Commands(t, f.pub)
	cancel := cmds[len(cmds)-1]
	if cancel.Action != topics.CmdCancel || cancel.Job != q.UID || cancel.Spec != nil {
		t.Fatalf("cancel command: %+v", cancel)
	}
	if _, err := f.s.CancelJob(ctx, f.operator, q.ID); server.ErrorCodeOf(err) != server.CodeConflict {
		t.Fatalf("cancel of a canceled job: %v", err)
	}
	// The run command may still reach the agent: its late delivered event is stale.
	f.agent.Event(t, q.UID, 2, topics.JobDelivered, nil)
	f.agent.Sync(t)
	if f.job(t, q.ID).Status != topics.JobCanceled {
		t.Fatal("a canceled job moved")
	}
	// A hello before the job would have expired repeats the cancel.
	mark := len(f.agent.Commands(t, f.pub))
	f.agent.Conn++
	f.agent.Connect(t, 1)
	resent := f.agent.Commands(t, f.pub)[mark:]
	if len(resent) != 1 || resent[0].ID != cancel.ID {
		t.Fatalf("cancel of a job canceled before delivery not repeated: %+v", resent)
	}

	// Running: cancel requested, the agent stops restic and reports canceled.
	r := f.backup(t)
	f.agent.Event(t, r.UID, 2, topics.JobDelivered, nil)
	f.agent.Event(t, r.UID, 3, topics.JobRunning, nil)
	f.agent.Sync(t)
	j, err = f.s.CancelJob(ctx, f.operator, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != topics.JobRunning || !j.CancelRequested || j.Version != 3 {
		t.Fatalf("cancel of a running job: %+v", j)
	}
	cmds = f.agent.Commands(t, f.pub)
	if last := cmds[len(cmds)-1]; last.Action != topics.CmdCancel || last.Job != r.UID {
		t.Fatalf("no cancel command for a running job: %+v", last)
	}
	f.agent.Event(t, r.UID, 4, topics.JobCanceled, &topics.JobResult{ExitCode: intp(130), Reason: "Canceled on request."})
	f.agent.Sync(t)
	if j := f.job(t, r.ID); j.Status != topics.JobCanceled || *j.ExitCode != 130 {
		t.Fatalf("after the agent canceled: %+v", j)
	}
	if _, err := f.s.CancelJob(ctx, f.operator, r.ID); server.ErrorCodeOf(err) != server.CodeConflict {
		t.Fatalf("cancel of a finished job: %v", err)
	}
	if _, err := f.s.CancelJob(ctx, f.operator, 9999); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("cancel of no job: %v", err)
	}
}

func TestExpirySweeperExpiresOnlyUndeliveredJobs(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	init := f.setRepo(t) // the host stays offline
	f.clock.Advance(server.DefaultJobExpiry)
	if err := f.s.SweepJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if j := f.job(t, init.ID); j.Status != topics.JobQueued {
		t.Fatalf("expired before the grace passed: %+v", j)
	}
	f.clock.Advance(f.s.JobOptions().ExpiryGrace + time.Second)
	if err := f.s.SweepJobs(ctx); err != nil {
		t.Fatal(err)
	}
	j := f.job(t, init.ID)
	if j.Status != topics.JobExpired || j.Version != 2 || j.FinishedAt == nil || j.Reason == "" {
		t.Fatalf("after expiry: %+v", j)
	}
	if st, _ := f.s.GetRepository(ctx, f.host); st.State != server.RepoFailed || st.InitReason == "" {
		t.Fatalf("repository after its init expired: %+v", st)
	}
	// A late hello does not bring an expired job back.
	f.agent.Connect(t, 1)
	for _, c := range f.agent.Commands(t, f.pub) {
		if c.Job == init.UID {
			t.Fatalf("expired job sent: %+v", c)
		}
	}
	// A delivered job is the agent's to expire.
	again, err := f.s.CreateJob(ctx, f.operator, f.host, server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobInit}, ExpiresIn: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	f.agent.Event(t, again.UID, 2, topics.JobDelivered, nil)
	f.agent.Sync(t)
	f.clock.Advance(time.Hour)
	if err := f.s.SweepJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if j := f.job(t, again.ID); j.Status != topics.JobDelivered {
		t.Fatalf("the sweeper expired a delivered job: %+v", j)
	}
	f.agent.Event(t, again.UID, 3, topics.JobExpired, &topics.JobResult{Reason: "It arrived after its expiry."})
	f.agent.Sync(t)
	if j := f.job(t, again.ID); j.Status != topics.JobExpired {
		t.Fatalf("agent's expiry not applied: %+v", j)
	}
}

func TestListJobsFilters(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	f.ready(t)
	other := enrollTestHost(t, f.s, "db-1")
	if _, err := f.s.SetRepository(ctx, f.admin, other, server.RepositoryInput{URL: "/srv/r2", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		f.backup(t)
	}
	all, err := f.s.ListJobs(ctx, server.JobFilter{})
	if err != nil || len(all) != 5 {
		t.Fatalf("all jobs: %d %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			t.Fatal("not newest first")
		}
	}
	if js, _ := f.s.ListJobs(ctx, server.JobFilter{HostID: other}); len(js) != 1 || js[0].HostName != "db-1" {
		t.Fatalf("by host: %+v", js)
	}
	if js, _ := f.s.ListJobs(ctx, server.JobFilter{Kind: topics.JobBackup, Status: topics.JobQueued}); len(js) != 3 {
		t.Fatalf("by kind and status: %d", len(js))
	}
	if js, _ := f.s.ListJobs(ctx, server.JobFilter{Status: topics.JobSucceeded}); len(js) != 1 || js[0].Kind != topics.JobInit {
		t.Fatalf("succeeded: %+v", js)
	}
	if js, _ := f.s.ListJobs(ctx, server.JobFilter{BeforeID: all[1].ID, Limit: 2}); len(js) != 2 || js[0].ID != all[2].ID {
		t.Fatalf("paging: %+v", js)
	}
	if _, err := f.s.ListJobs(ctx, server.JobFilter{Status: "nope"}); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Fatalf("bad status filter: %v", err)
	}
	if _, err := f.s.ListJobs(ctx, server.JobFilter{Kind: "nope"}); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Fatalf("bad kind filter: %v", err)
	}
	if _, err := f.s.GetJob(ctx, 999); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("no job: %v", err)
	}
}
