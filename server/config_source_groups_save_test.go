package server_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// saveState is what a group save may change: the group as read back, the
// desired config version, the audit log and the schedules table.
type saveState struct {
	group     *server.SourceGroup
	version   int64
	audit     int
	schedules int
}

func (f *jobsFixture) saveState(t *testing.T, ref string) saveState {
	t.Helper()
	st := saveState{version: f.configStatus(t).Desired, audit: f.count(t, "audit_log"), schedules: f.count(t, "schedules")}
	if ref != "" {
		g, err := f.s.GetSourceGroup(t.Context(), f.host, ref)
		if err != nil {
			t.Fatal(err)
		}
		st.group = g
	}
	return st
}

// daily is a backup schedule at HH:MM in Berlin.
func daily(at string) server.ScheduleInput {
	var h, m int
	if _, err := fmt.Sscanf(at, "%d:%d", &h, &m); err != nil {
		panic(err)
	}
	return server.ScheduleInput{Cron: fmt.Sprintf("%d %d * * *", m, h), TimeZone: "Europe/Berlin"}
}

// TestSaveSourceGroupIsOneTransaction (#12.2): a group and its schedules
// are saved by one SaveSourceGroup — one config version, one audit row
// naming every part — and a refusal in the schedule part, before or inside
// the transaction, leaves the group, its schedules, the config version and
// the audit log as they were.
func TestSaveSourceGroupIsOneTransaction(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	pre := "echo pre"

	// Create with two schedules and a hook: one version, one row.
	before := f.saveState(t, "")
	in := etcGroup
	in.Hooks = server.HookInput{PreHook: &pre}
	g, err := f.s.SaveSourceGroup(ctx, f.admin, f.host, "", server.SourceGroupSave{SourceGroupInput: in,
		Schedules: []server.GroupSchedule{{ScheduleInput: daily("03:30")}, {ScheduleInput: daily("13:05")}}})
	if err != nil {
		t.Fatal(err)
	}
	after := f.saveState(t, g.Key)
	if after.version != before.version+1 || after.audit != before.audit+1 || after.schedules != 2 || len(g.Schedules) != 2 ||
		!g.HasPreHook {
		t.Fatalf("create: version %d→%d, audit rows +%d, schedules %d, group %+v", before.version, after.version,
			after.audit-before.audit, after.schedules, g)
	}
	rows, err := f.s.ListAudit(ctx, server.AuditFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].Action != "source_group.create" || !strings.Contains(rows[0].Details, `"settings":`) ||
		!strings.Contains(rows[0].Details, `"hook":"pre_hook","sha256":"`) || strings.Contains(rows[0].Details, pre) ||
		strings.Count(rows[0].Details, `"schedule":"sch_`) != 2 {
		t.Fatalf("create audit row: %s %s", rows[0].Action, rows[0].Details)
	}
	if w := f.lastConfig(t); len(w.SourceGroups) != 1 || len(w.Schedules) != 2 || w.Version != after.version {
		t.Fatalf("config sent: %+v", w)
	}

	// Refusals in the schedule part: a bad cron (checked before the
	// transaction), another group's schedule and an unknown one (refused
	// inside it, after the group's new settings were written).
	other := f.group(t, server.SourceGroupInput{Name: "Other", Paths: []string{"/srv"}})
	foreign := f.schedule(t, server.ScheduleInput{Kind: topics.JobBackup, SourceGroup: other.Key, Cron: "0 4 * * *"})
	changed := in
	changed.Name, changed.Paths = "Renamed", []string{"/home"}
	bad := daily("03:30")
	bad.Cron = "61 3 * * *"
	before = f.saveState(t, g.Key)
	for name, scheds := range map[string][]server.GroupSchedule{
		"bad cron":         {{ID: g.Schedules[0].ID, ScheduleInput: bad}},
		"foreign schedule": {{ID: g.Schedules[0].ID, ScheduleInput: daily("05:00")}, {ID: foreign.ID, ScheduleInput: daily("06:00")}},
		"unknown schedule": {{ScheduleInput: daily("07:00")}, {ID: 9999, ScheduleInput: daily("06:00")}},
		"not a backup":     {{ScheduleInput: server.ScheduleInput{Kind: topics.JobPrune, Cron: "0 5 * * *"}}},
	} {
		_, err := f.s.SaveSourceGroup(ctx, f.admin, f.host, g.Key, server.SourceGroupSave{SourceGroupInput: changed, Schedules: scheds})
		if server.ErrorCodeOf(err) != server.CodeInvalid || (strings.HasSuffix(name, " schedule") &&
			!strings.Contains(err.Error(), "is not one of this group's schedules")) {
			t.Fatalf("%s: %v", name, err)
		}
		if now := f.saveState(t, g.Key); !reflect.DeepEqual(now, before) {
			t.Fatalf("%s changed something:\nbefore %+v\nafter  %+v", name, before, now)
		}
	}

	// Update the group, change one schedule, drop the other: one version,
	// one row that says all three.
	first := g.Schedules[0]
	upd, err := f.s.SaveSourceGroup(ctx, f.admin, f.host, g.Key, server.SourceGroupSave{SourceGroupInput: changed,
		Schedules: []server.GroupSchedule{{ID: first.ID, ScheduleInput: daily("04:45")}}})
	if err != nil {
		t.Fatal(err)
	}
	after = f.saveState(t, g.Key)
	if after.version != before.version+1 || after.audit != before.audit+1 || len(upd.Schedules) != 1 ||
		upd.Schedules[0].ID != first.ID || upd.Schedules[0].Cron != "45 4 * * *" || upd.Name != "Renamed" {
		t.Fatalf("update: version %d→%d, audit rows +%d, group %+v", before.version, after.version, after.audit-before.audit, upd)
	}
	rows, _ = f.s.ListAudit(ctx, server.AuditFilter{Limit: 1})
	if d := rows[0].Details; rows[0].Action != "source_group.update" || !strings.Contains(d, `"settings":`) ||
		!strings.Contains(d, `"updated":[{`) || !strings.Contains(d, `"deleted":[{"schedule":"sch_`) || strings.Contains(d, `"hooks"`) {
		t.Fatalf("update audit row: %s %s", rows[0].Action, d)
	}

	// Saving it again as it is changes nothing: no version, no row, the
	// same updated_at.
	before = after
	again := upd.Schedules[0].Input()
	if _, err := f.s.SaveSourceGroup(ctx, f.admin, f.host, g.Key, server.SourceGroupSave{SourceGroupInput: upd.SourceGroupInput,
		Schedules: []server.GroupSchedule{{ID: first.ID, ScheduleInput: again}}}); err != nil {
		t.Fatal(err)
	}
	if now := f.saveState(t, g.Key); !reflect.DeepEqual(now, before) {
		t.Fatalf("an unchanged save changed something:\nbefore %+v\nafter  %+v", before, now)
	}

	// Nil schedules keep them; an empty list removes them.
	if g, err = f.s.SaveSourceGroup(ctx, f.admin, f.host, g.Key, server.SourceGroupSave{SourceGroupInput: etcGroup}); err != nil ||
		len(g.Schedules) != 1 {
		t.Fatalf("nil schedules: %v %+v", err, g)
	}
	if g, err = f.s.SaveSourceGroup(ctx, f.admin, f.host, g.Key, server.SourceGroupSave{SourceGroupInput: etcGroup,
		Schedules: []server.GroupSchedule{}}); err != nil || len(g.Schedules) != 0 || f.count(t, "schedules") != 1 {
		t.Fatalf("empty schedules: %v %+v", err, g)
	}

	// Only admins save.
	if _, err := f.s.SaveSourceGroup(ctx, f.operator, f.host, g.Key, server.SourceGroupSave{SourceGroupInput: changed}); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("operator: %v", err)
	}
}
