package web

import (
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// groupHost is a ready host with a source group "docs" (/home/docs, keep 7
// daily) backed up daily at 03:00 Europe/Berlin, its schedule paused or not.
func (a *testApp) groupHost(name string, paused bool) (*fakeAgent, *server.SourceGroup, *server.Schedule) {
	a.t.Helper()
	f := a.readyHost(name)
	g, err := a.svc.CreateSourceGroup(a.t.Context(), server.CLIActor(), f.hostID, server.SourceGroupInput{
		Name: "docs", Paths: []string{"/home/docs"}, Excludes: []string{"*.tmp"}, ExcludeCaches: true,
		Tags: []string{"office"}, Retention: &topics.Retention{Daily: 7, Weekly: 4}})
	if err != nil {
		a.t.Fatal(err)
	}
	s, err := a.svc.CreateSchedule(a.t.Context(), server.CLIActor(), f.hostID, server.ScheduleInput{
		Kind: topics.JobBackup, SourceGroup: "docs", Cron: "0 3 * * *", TimeZone: "Europe/Berlin", Paused: paused})
	if err != nil {
		a.t.Fatal(err)
	}
	return f, g, s
}

// groups lists a host's source groups.
func (f *fakeAgent) groups() []server.SourceGroup {
	f.t.Helper()
	list, err := f.app.svc.ListSourceGroups(f.t.Context(), f.hostID)
	if err != nil {
		f.t.Fatal(err)
	}
	return list
}

// schedules lists a host's schedules.
func (f *fakeAgent) schedules() []server.Schedule {
	f.t.Helper()
	list, err := f.app.svc.ListSchedules(f.t.Context(), f.hostID)
	if err != nil {
		f.t.Fatal(err)
	}
	return list
}

func requireNoError(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
