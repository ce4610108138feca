package web

import (
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

func TestRelativeTime(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		0:                     "just now",
		-44 * time.Second:     "just now",
		-50 * time.Second:     "1 min ago",
		-5 * time.Minute:      "5 min ago",
		-89 * time.Minute:     "89 min ago",
		-3 * time.Hour:        "3 h ago",
		-35 * time.Hour:       "35 h ago",
		-36 * time.Hour:       "2 days ago",
		-24 * 40 * time.Hour:  "40 days ago",
		-24 * 800 * time.Hour: "2 years ago",
		20 * time.Minute:      "in 20 min",
		1:                     "in under 1 min", // a run due in a moment has not happened (#12)
		44 * time.Second:      "in under 1 min",
		50 * time.Second:      "in 1 min",
		5 * time.Minute:       "in 5 min",
		3 * time.Hour:         "in 3 h",
		24*time.Hour + 1:      "in 24 h",
		7 * 24 * time.Hour:    "in 7 days",
		-24*time.Hour - 1:     "24 h ago",
		-36*time.Hour + 1:     "36 h ago",
		-24*365*time.Hour + 1: "365 days ago",
		-24 * 365 * time.Hour: "1 year ago",
	} {
		if got := relativeTime(now.Add(d), now); got != want {
			t.Errorf("relativeTime(now%+v) = %q, want %q", d, got, want)
		}
	}
	if got := relativeTime(time.Time{}, now); got != "never" {
		t.Errorf("zero time = %q", got)
	}
}

func TestHostStateAlwaysHasAWord(t *testing.T) {
	seen := time.Now().Add(-3 * time.Hour)
	for _, tc := range []struct {
		host       server.Host
		tone, word string
	}{
		{server.Host{Online: true, ConnectedAt: &seen, LastSeen: &seen}, "ok", "online"},
		{server.Host{LastSeen: &seen}, "idle", "offline"},
		{server.Host{CreatedAt: seen}, "warn", "never connected"},
	} {
		st := newHostView(tc.host).State
		if st.Tone != tc.tone || st.Word != tc.word || st.Since == nil {
			t.Errorf("%+v: state %+v, want %s %q with a time", tc.host, st, tc.tone, tc.word)
		}
	}
}

// TestHostViewsKeepPageOrder: rows come in the order of the page the
// domain cut, (name, id), whatever their state or their last backup (#15:
// the filters and the health strip find the hosts that need a look; a
// table re-sorted within a page would scatter them across pages), and
// each row carries its plan.
func TestHostViewsKeepPageOrder(t *testing.T) {
	seen := time.Now()
	hosts := []server.Host{
		{ID: "1", Name: "a-fine", Online: true, LastSeen: &seen},
		{ID: "2", Name: "b-failed", Online: true, LastSeen: &seen},
		{ID: "3", Name: "c-offline", LastSeen: &seen},
		{ID: "4", Name: "d-new"},
	}
	plans := map[string]server.HostPlan{
		"1": {LastBackup: &server.JobBrief{Status: topics.JobSucceeded}},
		"2": {LastBackup: &server.JobBrief{Status: topics.JobFailed}},
	}
	var names []string
	for _, v := range withPlans(hostViews(hosts), plans) {
		names = append(names, v.Name)
		if (v.ID == "2") != (v.Plan != nil && v.Plan.LastBackup.Status == topics.JobFailed) {
			t.Errorf("%s: plan %+v", v.Name, v.Plan)
		}
	}
	if got := strings.Join(names, " "); got != "a-fine b-failed c-offline d-new" {
		t.Errorf("order = %s", got)
	}
}
