package server_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// fleetFixture is a running service with hosts enrolled by name, a
// recording publisher and one user of each role.
type fleetFixture struct {
	s                       *server.Service
	pub                     *servertest.Publisher
	clock                   *servertest.Clock
	admin, operator, viewer server.Actor
}

func newFleetFixture(t *testing.T) *fleetFixture {
	t.Helper()
	clock := servertest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s := servertest.MustOpenService(t, server.Options{Now: clock.Now, Ingest: server.IngestOptions{BatchWait: time.Millisecond}})
	pub := &servertest.Publisher{}
	s.SetPublisher(pub)
	servertest.RunInBackground(t, s)
	return &fleetFixture{s: s, pub: pub, clock: clock,
		admin:    servertest.ActorFor(servertest.MustCreateUser(t, s, "ada", server.RoleAdmin), "web"),
		operator: servertest.ActorFor(servertest.MustCreateUser(t, s, "otto", server.RoleOperator), "web"),
		viewer:   servertest.ActorFor(servertest.MustCreateUser(t, s, "vic", server.RoleViewer), "web")}
}

// host enrolls a host; with a repository it is given one (its init job
// stays queued until the host connects).
func (f *fleetFixture) host(t *testing.T, name string, repo bool, tags ...string) string {
	t.Helper()
	ctx := t.Context()
	tok, _, err := f.s.CreateEnrollmentToken(ctx, server.CLIActor(), name, 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.s.Enroll(ctx, server.EnrollRequest{Token: tok, Hostname: name, OS: "linux", Arch: "amd64", AgentVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if repo {
		if _, err := f.s.SetRepository(ctx, f.admin, res.HostID, server.RepositoryInput{URL: "/srv/restic/" + name, Password: "pw-" + name}); err != nil {
			t.Fatal(err)
		}
	}
	if len(tags) > 0 {
		if _, err := f.s.SetHostTags(ctx, f.admin, res.HostID, tags); err != nil {
			t.Fatal(err)
		}
	}
	return res.HostID
}

func (f *fleetFixture) audit(t *testing.T, action string) []server.AuditEntry {
	t.Helper()
	rows, err := f.s.ListAudit(t.Context(), server.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func (f *fleetFixture) jobs(t *testing.T, hostID string, kind topics.JobKind) []server.Job {
	t.Helper()
	list, err := f.s.ListJobs(t.Context(), server.JobFilter{HostID: hostID, Kind: kind})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// runCommandFor reports whether the host's agent was sent the run command
// of job uid.
func runCommandFor(t *testing.T, a *servertest.HostAgent, pub *servertest.Publisher, uid string) bool {
	t.Helper()
	return slices.ContainsFunc(a.Commands(t, pub), func(c topics.Command) bool { return c.Action == topics.CmdRun && c.Job == uid })
}

// TestFleetBackupByTag: a backup by tag gives every tagged host its own job
// through the single-host path — the online host is sent its run command
// now, the offline host's job waits (with the usual expiry) and is sent
// after its hello, a host without a repository is refused with the
// single-host sentence, an untagged host is left alone — and the action
// is one fleet.action audit row listing every host, next to the job.create
// rows the job path writes, which carry the action's id.
func TestFleetBackupByTag(t *testing.T) {
	f := newFleetFixture(t)
	ctx := t.Context()
	online := f.host(t, "lyon-1", true, "site:lyon")
	offline := f.host(t, "lyon-2", true, "Site:Lyon", "laptop")
	bare := f.host(t, "lyon-3", false, "site:lyon")
	other := f.host(t, "paris-1", true, "site:paris")
	agent := servertest.NewHostAgent(f.s, online)
	agent.Connect(t, 0)
	creates := len(f.audit(t, "job.create"))

	res, err := f.s.RunFleetAction(ctx, f.operator, server.FleetActionRequest{Action: server.FleetBackup, Tag: " SITE:lyon ",
		Job: server.JobRequest{Spec: topics.JobSpec{Paths: []string{"/etc"}, BandwidthUpKBps: 512}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != server.FleetBackup || res.Tag != "site:lyon" || len(res.Hosts) != 3 {
		t.Fatalf("result = %+v, want the three hosts tagged site:lyon", res)
	}
	byHost := map[string]server.FleetHostResult{}
	for _, h := range res.Hosts {
		byHost[h.HostID] = h
	}
	if names := []string{res.Hosts[0].Name, res.Hosts[1].Name, res.Hosts[2].Name}; !slices.Equal(names, []string{"lyon-1", "lyon-2", "lyon-3"}) {
		t.Errorf("hosts in order %v, want by name", names)
	}
	for _, id := range []string{online, offline} {
		r := byHost[id]
		if !r.Done() || r.JobID == 0 {
			t.Fatalf("%s: %+v, want a job", r.Name, r)
		}
		j, err := f.s.GetJob(ctx, r.JobID)
		if err != nil {
			t.Fatal(err)
		}
		if j.HostID != id || j.Kind != topics.JobBackup || !slices.Equal(j.Spec.Paths, []string{"/etc"}) || j.Spec.BandwidthUpKBps != 512 ||
			j.CreatedBy != "otto" || j.Status != topics.JobQueued {
			t.Errorf("%s: job = %+v", r.Name, j)
		}
		if want := j.CreatedAt.Add(server.DefaultJobExpiry); !j.ExpiresAt.Equal(want) {
			t.Errorf("%s: expires %v, want the usual %v", r.Name, j.ExpiresAt, want)
		}
	}
	if !byHost[online].Online || byHost[offline].Online {
		t.Errorf("online flags: %+v", res.Hosts)
	}
	if r := byHost[bare]; r.Done() || r.Code != server.CodeInvalid || r.Refused != "Set the host's repository first." {
		t.Errorf("host without a repository: %+v", r)
	}
	if len(f.jobs(t, bare, "")) != 0 || len(f.jobs(t, other, topics.JobBackup)) != 0 {
		t.Error("a refused or untagged host got a job")
	}

	onlineJob, _ := f.s.GetJob(ctx, byHost[online].JobID)
	if !runCommandFor(t, agent, f.pub, onlineJob.UID) {
		t.Error("the online host was not sent its run command")
	}
	offJob, _ := f.s.GetJob(ctx, byHost[offline].JobID)
	late := servertest.NewHostAgent(f.s, offline)
	if runCommandFor(t, late, f.pub, offJob.UID) {
		t.Fatal("the offline host was sent a command before it connected")
	}
	late.Connect(t, 0)
	if !runCommandFor(t, late, f.pub, offJob.UID) {
		t.Error("the offline host's job was not sent after its hello")
	}

	rows := f.audit(t, "fleet.action")
	if len(rows) != 1 {
		t.Fatalf("fleet.action rows = %d, want 1", len(rows))
	}
	var d struct {
		ID     string `json:"id"`
		Action string `json:"action"`
		Tag    string `json:"tag"`
		Hosts  []struct {
			HostID  string `json:"host_id"`
			Job     int64  `json:"job"`
			Refused string `json:"refused"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(rows[0].Details), &d); err != nil {
		t.Fatal(err)
	}
	if rows[0].Actor != "otto" || d.ID != res.ID || d.Action != "backup" || d.Tag != "site:lyon" || len(d.Hosts) != 3 ||
		d.Hosts[0].Job != byHost[online].JobID || d.Hosts[1].Job != byHost[offline].JobID || d.Hosts[2].Refused == "" {
		t.Errorf("fleet.action row = %+v %s", rows[0], rows[0].Details)
	}
	jobRows := f.audit(t, "job.create")
	if len(jobRows)-creates != 2 {
		t.Fatalf("job.create rows: %d new, want 2 (one per job)", len(jobRows)-creates)
	}
	for _, r := range jobRows[:2] {
		var jd struct {
			Fleet string `json:"fleet_action"`
		}
		if err := json.Unmarshal([]byte(r.Details), &jd); err != nil || jd.Fleet != res.ID {
			t.Errorf("job.create row %s does not name the fleet action %s", r.Details, res.ID)
		}
	}
}

// TestFleetActionRoles: who may run a fleet action is who may run each of
// its single-host actions. A viewer is refused everything; an operator runs
// checks and unlocks but not a backup carrying its own forget policy (an
// admin's, jobs_permission.go) — refused as a whole, nothing queued or
// audited; an admin may.
func TestFleetActionRoles(t *testing.T) {
	f := newFleetFixture(t)
	ctx := t.Context()
	a := f.host(t, "web-1", true)
	b := f.host(t, "web-2", true)
	hosts := []string{a, b}
	withPolicy := server.JobRequest{Spec: topics.JobSpec{Paths: []string{"/srv"}, SourceGroup: "sg_1", ForgetAfter: &topics.Retention{Last: 3}}}
	audits := len(f.audit(t, ""))

	for _, action := range server.FleetActions {
		_, err := f.s.RunFleetAction(ctx, f.viewer, server.FleetActionRequest{Action: action, HostIDs: hosts})
		if server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Errorf("viewer %s: %v, want forbidden", action, err)
		}
	}
	_, err := f.s.RunFleetAction(ctx, f.operator, server.FleetActionRequest{Action: server.FleetBackup, HostIDs: hosts, Job: withPolicy})
	if server.ErrorCodeOf(err) != server.CodeForbidden ||
		server.PublicMessage(err) != "Your role (operator) may not run backup: removing snapshots after a backup with a policy of its own is admin-only; ask an admin." {
		t.Errorf("operator backup with a forget policy: %v", err)
	}
	if len(f.jobs(t, a, topics.JobBackup))+len(f.jobs(t, b, topics.JobBackup)) != 0 || len(f.audit(t, "")) != audits {
		t.Fatal("a refused fleet action queued or audited something")
	}

	for _, action := range []server.FleetAction{server.FleetCheck, server.FleetUnlock} {
		res, err := f.s.RunFleetAction(ctx, f.operator, server.FleetActionRequest{Action: action, HostIDs: hosts})
		if err != nil {
			t.Fatalf("operator %s: %v", action, err)
		}
		if done, refused := res.Counts(); done != 2 || refused != 0 {
			t.Errorf("operator %s: %+v", action, res.Hosts)
		}
	}
	res, err := f.s.RunFleetAction(ctx, f.admin, server.FleetActionRequest{Action: server.FleetBackup, HostIDs: hosts, Job: withPolicy})
	if err != nil {
		t.Fatal(err)
	}
	if done, _ := res.Counts(); done != 2 {
		t.Errorf("admin backup with a policy: %+v", res.Hosts)
	}
}

// TestFleetPauseResume pauses and resumes every schedule of the chosen
// hosts through the single-host path (one schedule.pause row per schedule
// changed); a host without schedules is refused, and pausing what is
// paused already changes nothing.
func TestFleetPauseResume(t *testing.T) {
	f := newFleetFixture(t)
	ctx := t.Context()
	planned := f.host(t, "db-1", true)
	plain := f.host(t, "db-2", true)
	g, err := f.s.CreateSourceGroup(ctx, f.admin, planned, server.SourceGroupInput{Name: "data", Paths: []string{"/data"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []server.ScheduleInput{{Kind: topics.JobBackup, SourceGroup: g.Key, Cron: "0 3 * * *"}, {Kind: topics.JobCheck, Cron: "0 4 * * 0"}} {
		if _, err := f.s.CreateSchedule(ctx, f.admin, planned, in); err != nil {
			t.Fatal(err)
		}
	}
	paused := func() (n int) {
		list, err := f.s.ListSchedules(ctx, planned)
		if err != nil {
			t.Fatal(err)
		}
		for _, sc := range list {
			if sc.Paused {
				n++
			}
		}
		return n
	}

	res, err := f.s.RunFleetAction(ctx, f.operator, server.FleetActionRequest{Action: server.FleetPause, HostIDs: []string{planned, plain}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Hosts[0]; r.HostID != planned || !r.Done() || r.Schedules != 2 {
		t.Errorf("db-1: %+v, want 2 schedules paused", r)
	}
	if r := res.Hosts[1]; r.HostID != plain || r.Done() || r.Refused != "The host has no schedules to pause." {
		t.Errorf("db-2: %+v", r)
	}
	if paused() != 2 || len(f.audit(t, "schedule.pause")) != 2 || len(f.audit(t, "fleet.action")) != 1 {
		t.Fatalf("paused %d, schedule.pause rows %d", paused(), len(f.audit(t, "schedule.pause")))
	}

	res, err = f.s.RunFleetAction(ctx, f.operator, server.FleetActionRequest{Action: server.FleetPause, HostIDs: []string{planned}})
	if err != nil || res.Hosts[0].Schedules != 0 || !res.Hosts[0].Done() {
		t.Fatalf("pause again: %+v %v", res, err)
	}
	if len(f.audit(t, "schedule.pause")) != 2 {
		t.Error("pausing paused schedules wrote rows")
	}

	if _, err := f.s.RunFleetAction(ctx, f.operator, server.FleetActionRequest{Action: server.FleetResume, HostIDs: []string{planned}}); err != nil {
		t.Fatal(err)
	}
	if paused() != 0 {
		t.Error("resume left schedules paused")
	}
}

// TestFleetActionRefusals: a request wrong as a whole is refused with one
// sentence and changes nothing; what is wrong for one host refuses that
// host only.
func TestFleetActionRefusals(t *testing.T) {
	f := newFleetFixture(t)
	ctx := t.Context()
	h := f.host(t, "web-1", true, "office")
	audits := len(f.audit(t, ""))
	cases := []struct {
		name string
		req  server.FleetActionRequest
		want string
	}{
		{"unknown action", server.FleetActionRequest{Action: "prune", HostIDs: []string{h}},
			`Unknown fleet action "prune"; use backup, check, unlock, pause or resume.`},
		{"no hosts", server.FleetActionRequest{Action: server.FleetCheck}, "Choose the hosts: tick them, or give a tag."},
		{"blank hosts", server.FleetActionRequest{Action: server.FleetCheck, HostIDs: []string{" "}}, "Choose the hosts: tick them, or give a tag."},
		{"both", server.FleetActionRequest{Action: server.FleetCheck, HostIDs: []string{h}, Tag: "office"}, "Give either hosts, a tag or a filter, not several."},
		{"bad tag", server.FleetActionRequest{Action: server.FleetCheck, Tag: "a b"},
			`A tag is 1-40 letters, digits, '.', '_', '-', ':', '/' or '=', starting with a letter or digit (e.g. site:lyon); got "a b".`},
		{"tag nobody has", server.FleetActionRequest{Action: server.FleetCheck, Tag: "site:nowhere"},
			`No host has the tag "site:nowhere"; tag hosts on their page first.`},
		{"backup without paths", server.FleetActionRequest{Action: server.FleetBackup, HostIDs: []string{h}}, ""},
		{"other kind", server.FleetActionRequest{Action: server.FleetCheck, HostIDs: []string{h}, Job: server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobPrune}}},
			"The fleet action is check; leave the job kind out or make it check."},
		{"options on pause", server.FleetActionRequest{Action: server.FleetPause, HostIDs: []string{h}, Job: server.JobRequest{Spec: topics.JobSpec{Paths: []string{"/etc"}}}},
			"Pausing or resuming schedules takes no job options; leave them out."},
	}
	for _, c := range cases {
		_, err := f.s.RunFleetAction(ctx, f.admin, c.req)
		if server.ErrorCodeOf(err) != server.CodeInvalid || (c.want != "" && server.PublicMessage(err) != c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if len(f.audit(t, "")) != audits || len(f.jobs(t, h, topics.JobCheck)) != 0 {
		t.Fatal("a refused request changed something")
	}

	res, err := f.s.RunFleetAction(ctx, f.admin, server.FleetActionRequest{Action: server.FleetBackup, HostIDs: []string{h, "h_nope", h},
		Job: server.JobRequest{SourceGroup: "docs"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hosts) != 2 {
		t.Fatalf("hosts %+v, want each id once", res.Hosts)
	}
	for _, r := range res.Hosts {
		if r.Done() {
			t.Errorf("%+v: want refused (unknown host; no source group docs)", r)
		}
	}
	if r := res.Hosts[0]; r.HostID != "h_nope" || r.Code != server.CodeNotFound {
		t.Errorf("unknown host: %+v", r)
	}
	if len(f.audit(t, "fleet.action")) != 0 {
		t.Error("an action that changed nothing was audited")
	}
}
