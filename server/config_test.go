package server_test

import (
	"github.com/restic-manager/restic-manager/server"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// lastConfig is the newest config published to the fixture's host; it
// must decode and validate with topics (decodeRecorded checks).
func (f *jobsFixture) lastConfig(t *testing.T) topics.Config {
	t.Helper()
	cfgs := f.agent.Configs(t, f.pub)
	if len(cfgs) == 0 {
		t.Fatal("no config published")
	}
	return cfgs[len(cfgs)-1]
}

func (f *jobsFixture) configStatus(t *testing.T) *server.ConfigStatus {
	t.Helper()
	st, err := f.s.GetConfigStatus(t.Context(), f.host)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (f *jobsFixture) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := f.s.DB().Get(&n, `SELECT COUNT(*) FROM `+table); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *jobsFixture) group(t *testing.T, in server.SourceGroupInput) *server.SourceGroup {
	t.Helper()
	g, err := f.s.CreateSourceGroup(t.Context(), f.admin, f.host, in)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (f *jobsFixture) schedule(t *testing.T, in server.ScheduleInput) *server.Schedule {
	t.Helper()
	sc, err := f.s.CreateSchedule(t.Context(), f.admin, f.host, in)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

var etcGroup = server.SourceGroupInput{Name: "System", Paths: []string{"/etc", " /var/lib ", ""}, Excludes: []string{"*.tmp"},
	ExcludeFiles: []string{"/etc/restic-excludes"}, ExcludeCaches: true, OneFileSystem: true, Tags: []string{"sys"},
	Retention: &topics.Retention{Daily: 7, Weekly: 4}, ForgetAfterBackup: true}

func TestSourceGroupCRUDSendsEveryChange(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	g := f.group(t, etcGroup)
	if g.Key != server.GroupKey(g.ID) || g.Name != "System" || strings.Join(g.Paths, ",") != "/etc,/var/lib" ||
		!g.ExcludeCaches || !g.OneFileSystem || g.Retention == nil || g.Retention.Daily != 7 || g.LastBackup != nil {
		t.Fatalf("created: %+v", g)
	}
	// A group without a repository is fine: the config carries no repository yet.
	cfg := f.lastConfig(t)
	if cfg.Version != 1 || cfg.Repository != nil || len(cfg.SourceGroups) != 1 {
		t.Fatalf("config after create: %+v", cfg)
	}
	if w := cfg.SourceGroups[0]; w.ID != g.Key || w.Name != "System" || strings.Join(w.ExcludeFiles, ",") != "/etc/restic-excludes" ||
		!w.ForgetAfterBackup || w.Retention.Weekly != 4 || strings.Join(w.Tags, ",") != "sys" {
		t.Fatalf("group on the wire: %+v", w)
	}

	// The repository goes through the same builder: the groups stay in.
	f.setRepo(t)
	if cfg := f.lastConfig(t); cfg.Version != 2 || cfg.Repository == nil || len(cfg.SourceGroups) != 1 {
		t.Fatalf("config after the repository: %+v", cfg)
	}

	in := etcGroup
	in.Name, in.Paths, in.Retention, in.ForgetAfterBackup = "system", []string{"/etc"}, nil, false
	for _, ref := range []string{g.Key, "3", "SYSTEM"} { // key, number, any-case name
		if ref == "3" {
			ref = strings.TrimPrefix(g.Key, "sg_")
		}
		got, err := f.s.GetSourceGroup(ctx, f.host, ref)
		if err != nil || got.ID != g.ID {
			t.Fatalf("get %q: %v %+v", ref, err, got)
		}
	}
	up, err := f.s.UpdateSourceGroup(ctx, f.admin, f.host, "System", in) // renaming to another case of itself is fine
	if err != nil || up.ID != g.ID || up.Name != "system" || up.Retention != nil {
		t.Fatalf("update: %v %+v", err, up)
	}
	if cfg := f.lastConfig(t); cfg.Version != 3 || cfg.SourceGroups[0].Name != "system" || cfg.SourceGroups[0].Retention != nil {
		t.Fatalf("config after update: %+v", cfg)
	}
	sc := f.schedule(t, server.ScheduleInput{Kind: topics.JobBackup, SourceGroup: "system", Cron: "0 3 * * *"})
	if err := f.s.DeleteSourceGroup(ctx, f.admin, f.host, g.Key); err != nil {
		t.Fatal(err)
	}
	if cfg := f.lastConfig(t); cfg.Version != 5 || len(cfg.SourceGroups) != 0 || len(cfg.Schedules) != 0 {
		t.Fatalf("config after delete (its schedule %d goes too): %+v", sc.ID, cfg)
	}
	if _, err := f.s.GetSourceGroup(ctx, f.host, g.Key); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("deleted group: %v", err)
	}
	if err := f.s.DeleteSourceGroup(ctx, f.admin, f.host, g.Key); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("delete twice: %v", err)
	}
	// A new group never gets the deleted one's id (agents may still report its runs).
	if g2 := f.group(t, etcGroup); g2.ID == g.ID {
		t.Fatal("a group id was reused")
	}
	if st := f.configStatus(t); st.Desired != 6 || st.Applied != 0 || !st.Pending {
		t.Fatalf("config status: %+v", st)
	}
	audit, err := f.s.ListAudit(ctx, server.AuditFilter{Action: "source_group."})
	if err != nil || len(audit) != 4 {
		t.Fatalf("audit: %v %d rows", err, len(audit))
	}
	for _, e := range audit {
		if e.Actor != "ada" || !strings.Contains(e.Details, `"config_version"`) || strings.Contains(e.Details, testRepoPassword) {
			t.Fatalf("audit row: %+v", e)
		}
	}
}

func TestSourceGroupValidationStoresNothing(t *testing.T) {
	f := newJobsFixture(t)
	f.group(t, server.SourceGroupInput{Name: "Home", Paths: []string{"/home"}})
	published := len(f.pub.On(topics.ConfigTopic(f.host)))
	for name, in := range map[string]server.SourceGroupInput{
		"relative path":        {Name: "A", Paths: []string{"home"}},
		"empty group":          {Name: "A", Paths: []string{" ", ""}},
		"no name":              {Name: " ", Paths: []string{"/a"}},
		"bad name":             {Name: "a/b", Paths: []string{"/a"}},
		"duplicate name":       {Name: "HOME", Paths: []string{"/a"}},
		"relative exclude":     {Name: "A", Paths: []string{"/a"}, ExcludeFiles: []string{"x.txt"}},
		"bad tag":              {Name: "A", Paths: []string{"/a"}, Tags: []string{"a,b"}},
		"bad retention":        {Name: "A", Paths: []string{"/a"}, Retention: &topics.Retention{Within: "7 days"}},
		"forget w/o retention": {Name: "A", Paths: []string{"/a"}, ForgetAfterBackup: true},
	} {
		_, err := f.s.CreateSourceGroup(t.Context(), f.admin, f.host, in)
		if server.ErrorCodeOf(err) != server.CodeInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
			continue
		}
		if msg := server.PublicMessage(err); msg[0] < 'A' || msg[0] > 'Z' || !strings.HasSuffix(msg, ".") || strings.Contains(msg, "\n") {
			t.Errorf("%s: %q is not one sentence", name, msg)
		}
	}
	if _, err := f.s.UpdateSourceGroup(t.Context(), f.admin, f.host, "Home", server.SourceGroupInput{Name: "Home", Paths: []string{"rel"}}); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Fatalf("bad update: %v", err)
	}
	if _, err := f.s.UpdateSourceGroup(t.Context(), f.admin, f.host, "Nope", server.SourceGroupInput{Name: "Nope", Paths: []string{"/a"}}); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("update of no group: %v", err)
	}
	if n := f.count(t, "source_groups"); n != 1 {
		t.Fatalf("%d groups stored", n)
	}
	if st := f.configStatus(t); st.Desired != 1 || len(f.pub.On(topics.ConfigTopic(f.host))) != published {
		t.Fatalf("a refused change bumped or sent the config: %+v", st)
	}
}

func TestScheduleCRUDAndValidation(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	g := f.group(t, server.SourceGroupInput{Name: "Home", Paths: []string{"/home"}})
	sc := f.schedule(t, server.ScheduleInput{Kind: topics.JobBackup, SourceGroup: "home", Cron: " 30 2 * * * ", TimeZone: "Europe/Berlin",
		JitterSeconds: 600})
	if sc.Key != server.ScheduleKey(sc.ID) || sc.SourceGroupID != g.ID || sc.SourceGroupName != "Home" || !sc.CatchUp ||
		sc.Cron != "30 2 * * *" || sc.Next == nil || sc.Last != nil || sc.Paused {
		t.Fatalf("created: %+v", sc)
	}
	no := false
	check := f.schedule(t, server.ScheduleInput{Kind: topics.JobCheck, Cron: "@weekly", CatchUp: &no, ReadDataSubset: "5%"})
	cfg := f.lastConfig(t)
	if cfg.Version != 3 || len(cfg.Schedules) != 2 {
		t.Fatalf("config: %+v", cfg)
	}
	if w := cfg.Schedules[0]; w.ID != sc.Key || w.SourceGroup != g.Key || w.TimeZone != "Europe/Berlin" || !w.CatchUp || w.JitterSeconds != 600 {
		t.Fatalf("backup schedule on the wire: %+v", w)
	}
	if w := cfg.Schedules[1]; w.ID != check.Key || w.Kind != topics.JobCheck || w.CatchUp || w.ReadDataSubset != "5%" || w.SourceGroup != "" {
		t.Fatalf("check schedule on the wire: %+v", w)
	}

	before := f.count(t, "schedules")
	for name, in := range map[string]server.ScheduleInput{
		"bad cron":              {Kind: topics.JobCheck, Cron: "every day"},
		"six fields":            {Kind: topics.JobCheck, Cron: "0 0 3 * * *"},
		"cron with zone prefix": {Kind: topics.JobCheck, Cron: "CRON_TZ=UTC 0 3 * * *"},
		"unknown zone":          {Kind: topics.JobCheck, Cron: "@daily", TimeZone: "Mars/Olympus"},
		"backup without group":  {Kind: topics.JobBackup, Cron: "@daily"},
		"backup of no group":    {Kind: topics.JobBackup, SourceGroup: "Nope", Cron: "@daily"},
		"prune with group":      {Kind: topics.JobPrune, SourceGroup: "Home", Cron: "@daily"},
		"restore schedule":      {Kind: topics.JobRestore, Cron: "@daily"},
		"negative jitter":       {Kind: topics.JobCheck, Cron: "@daily", JitterSeconds: -1},
		"jitter too long":       {Kind: topics.JobCheck, Cron: "@daily", JitterSeconds: topics.MaxJitter + 1},
		"subset on a prune":     {Kind: topics.JobPrune, Cron: "@daily", ReadDataSubset: "5%"},
	} {
		_, err := f.s.CreateSchedule(ctx, f.admin, f.host, in)
		if server.ErrorCodeOf(err) != server.CodeInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
			continue
		}
		if msg := server.PublicMessage(err); msg[0] < 'A' || msg[0] > 'Z' || !strings.HasSuffix(msg, ".") {
			t.Errorf("%s: %q is not a sentence", name, msg)
		}
	}
	if n := f.count(t, "schedules"); n != before {
		t.Fatalf("bad schedules stored: %d", n-before)
	}
	if st := f.configStatus(t); st.Desired != 3 {
		t.Fatalf("refused schedules bumped the config: %+v", st)
	}

	up, err := f.s.UpdateSchedule(ctx, f.admin, f.host, check.ID, server.ScheduleInput{Kind: topics.JobPrune, Cron: "0 4 * * 0", Paused: true})
	if err != nil || up.Kind != topics.JobPrune || !up.Paused || up.Next != nil || up.ReadDataSubset != "" {
		t.Fatalf("update: %v %+v", err, up)
	}
	if _, err := f.s.UpdateSchedule(ctx, f.admin, f.host, 9999, server.ScheduleInput{Kind: topics.JobPrune, Cron: "@daily"}); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("update of no schedule: %v", err)
	}
	other := enrollTestHost(t, f.s, "web-2")
	if _, err := f.s.UpdateSchedule(ctx, f.admin, other, check.ID, server.ScheduleInput{Kind: topics.JobPrune, Cron: "@daily"}); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("another host's schedule updated: %v", err)
	}
	if err := f.s.DeleteSchedule(ctx, f.admin, other, check.ID); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("another host's schedule deleted: %v", err)
	}
	if err := f.s.DeleteSchedule(ctx, f.admin, f.host, check.ID); err != nil {
		t.Fatal(err)
	}
	if cfg := f.lastConfig(t); cfg.Version != 5 || len(cfg.Schedules) != 1 || cfg.Schedules[0].ID != sc.Key {
		t.Fatalf("config after delete: %+v", cfg)
	}
	list, err := f.s.ListSchedules(ctx, f.host)
	if err != nil || len(list) != 1 || list[0].ID != sc.ID {
		t.Fatalf("list: %v %+v", err, list)
	}
	groups, err := f.s.ListSourceGroups(ctx, f.host)
	if err != nil || len(groups) != 1 || len(groups[0].Schedules) != 1 || groups[0].Schedules[0].ID != sc.ID {
		t.Fatalf("groups with schedules: %v %+v", err, groups)
	}
}

func TestPauseResumeAndRoles(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	in := server.SourceGroupInput{Name: "Home", Paths: []string{"/home"}}
	sin := server.ScheduleInput{Kind: topics.JobBackup, SourceGroup: "Home", Cron: "@daily"}
	for _, a := range []server.Actor{f.viewer, f.operator} {
		if _, err := f.s.CreateSourceGroup(ctx, a, f.host, in); server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Fatalf("%s created a group: %v", a.Role, err)
		}
	}
	g := f.group(t, in)
	sc := f.schedule(t, sin)
	for _, a := range []server.Actor{f.viewer, f.operator} {
		if _, err := f.s.UpdateSourceGroup(ctx, a, f.host, "Home", in); server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Fatalf("%s updated a group: %v", a.Role, err)
		}
		if err := f.s.DeleteSourceGroup(ctx, a, f.host, g.Key); server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Fatalf("%s deleted a group: %v", a.Role, err)
		}
		if _, err := f.s.CreateSchedule(ctx, a, f.host, sin); server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Fatalf("%s created a schedule: %v", a.Role, err)
		}
		if _, err := f.s.UpdateSchedule(ctx, a, f.host, sc.ID, sin); server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Fatalf("%s updated a schedule: %v", a.Role, err)
		}
		if err := f.s.DeleteSchedule(ctx, a, f.host, sc.ID); server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Fatalf("%s deleted a schedule: %v", a.Role, err)
		}
		if err := f.s.SetBandwidth(ctx, a, f.host, topics.Bandwidth{UpKBps: 1}); server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Fatalf("%s set caps: %v", a.Role, err)
		}
		if _, err := f.s.PreviewRetention(ctx, a, f.host, "Home", topics.Retention{Last: 1}); server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Fatalf("%s previewed retention: %v", a.Role, err)
		}
	}
	if _, err := f.s.SetSchedulePaused(ctx, f.viewer, f.host, sc.ID, true); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("viewer paused: %v", err)
	}
	events, stop := f.s.Events().Subscribe()
	defer stop()
	p, err := f.s.SetSchedulePaused(ctx, f.operator, f.host, sc.ID, true)
	if err != nil || !p.Paused || p.Next != nil {
		t.Fatalf("operator pause: %v %+v", err, p)
	}
	if e := <-events; e.Kind != server.EventConfigChanged || e.HostID != f.host {
		t.Fatalf("event: %+v", e)
	}
	cfg := f.lastConfig(t)
	if cfg.Version != 3 || !cfg.Schedules[0].Paused {
		t.Fatalf("paused config: %+v", cfg)
	}
	// Pausing again changes nothing.
	if _, err := f.s.SetSchedulePaused(ctx, f.operator, f.host, sc.ID, true); err != nil || f.configStatus(t).Desired != 3 {
		t.Fatalf("pause twice: %v %+v", err, f.configStatus(t))
	}
	r, err := f.s.SetSchedulePaused(ctx, f.operator, f.host, sc.ID, false)
	if err != nil || r.Paused || r.Next == nil || f.lastConfig(t).Schedules[0].Paused {
		t.Fatalf("resume: %v %+v", err, r)
	}
	if _, err := f.s.SetSchedulePaused(ctx, f.operator, f.host, 999, true); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("pause of no schedule: %v", err)
	}
	audit, err := f.s.ListAudit(ctx, server.AuditFilter{Action: "schedule.", Actor: "otto"})
	if err != nil || len(audit) != 2 || audit[0].Action != "schedule.resume" || audit[1].Action != "schedule.pause" {
		t.Fatalf("audit: %v %+v", err, audit)
	}
}

func TestBandwidthCapsAndAppliedVersion(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	if err := f.s.SetBandwidth(ctx, f.admin, f.host, topics.Bandwidth{UpKBps: -1}); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Fatalf("negative cap: %v", err)
	}
	if err := f.s.SetBandwidth(ctx, f.admin, f.host, topics.Bandwidth{UpKBps: 512, DownKBps: 2048}); err != nil {
		t.Fatal(err)
	}
	cfg := f.lastConfig(t)
	if cfg.Version != 1 || cfg.Bandwidth == nil || cfg.Bandwidth.UpKBps != 512 || cfg.Bandwidth.DownKBps != 2048 {
		t.Fatalf("config: %+v", cfg)
	}
	st := f.configStatus(t)
	if st.Bandwidth.UpKBps != 512 || !st.Pending {
		t.Fatalf("status: %+v", st)
	}
	// The agent comes online with nothing applied: it gets the same build.
	events, stop := f.s.Events().Subscribe()
	defer stop()
	f.agent.Connect(t, 0)
	if cfgs := f.agent.Configs(t, f.pub); len(cfgs) != 2 || cfgs[1].Version != 1 || cfgs[1].Bandwidth.UpKBps != 512 {
		t.Fatalf("hello resend: %+v", cfgs)
	}
	// It reports applying it: the status follows and the pages hear of it.
	f.agent.Send(t, topics.StatusTopic(f.host), &topics.Status{Envelope: topics.NewEnvelope(topics.TypeStatus, f.host),
		State: "online", BootID: "boot", ConnGen: 1, ConfigVersion: 1})
	if st := f.configStatus(t); st.Applied != 1 || st.Pending {
		t.Fatalf("status after apply: %+v", st)
	}
	sawConfig := false
	for len(events) > 0 {
		if e := <-events; e.Kind == server.EventConfigChanged && e.HostID == f.host {
			sawConfig = true
		}
	}
	if !sawConfig {
		t.Fatal("no config event when the applied version changed")
	}
	if err := f.s.SetBandwidth(ctx, f.admin, f.host, topics.Bandwidth{}); err != nil {
		t.Fatal(err)
	}
	if cfg := f.lastConfig(t); cfg.Version != 2 || cfg.Bandwidth != nil {
		t.Fatalf("caps removed: %+v", cfg)
	}
	if _, err := f.s.GetConfigStatus(ctx, "h_nosuchhost"); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("unknown host: %v", err)
	}
}
