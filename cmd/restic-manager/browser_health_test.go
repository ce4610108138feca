package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// healthHost enrolls name on the running server, brings it online as a
// stand-in agent and walks its repository's init to succeeded.
func healthHost(t *testing.T, m *Main, clock *servertest.Clock, name string) *servertest.HostAgent {
	t.Helper()
	s := m.Service()
	a := servertest.NewHostAgent(s, servertest.EnrollHost(t, s, name))
	a.Connect(t, 1)
	j, err := s.SetRepository(t.Context(), server.CLIActor(), a.Host, server.RepositoryInput{URL: "/srv/restic/" + name, Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	a.RunJobAt(t, j.UID, topics.JobSucceeded, clock.Now())
	return a
}

func healthBackup(t *testing.T, m *Main, clock *servertest.Clock, a *servertest.HostAgent, state topics.JobState) {
	t.Helper()
	j, err := m.Service().CreateJob(t.Context(), server.CLIActor(), a.Host, server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"/etc"}}})
	if err != nil {
		t.Fatal(err)
	}
	a.RunJobAt(t, j.UID, state, clock.Now())
}

// TestBrowserOverdueHost: a host whose last success is 50 h old (no
// schedule: the fleet's 26 h apply) shows "overdue" with the age of its
// last success on the dashboard; the header counts it beside the host that
// is fine and the one whose last backup failed; the overdue filter shows
// it alone; its page shows why and takes its own threshold, after which
// it is fine again.
func TestBrowserOverdueHost(t *testing.T) {
	t.Parallel()
	// The server's clock starts 50 h in the past and is moved to the
	// present, so the browser (which ages times by its own clock) agrees.
	clock := servertest.NewClock(time.Now().UTC().Add(-50 * time.Hour))
	m := startServer(t, filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", func(m *Main) { m.ServiceOptions.Now = clock.Now })
	if _, err := m.Service().SetAlertingSettings(t.Context(), server.CLIActor(),
		server.AlertingSettings{OverdueAfterSeconds: server.DefaultOverdueAfterSeconds, OfflineAlertAfterSeconds: 30 * 86400}); err != nil {
		t.Fatal(err)
	}
	stale := healthHost(t, m, clock, "stale-nas")
	healthBackup(t, m, clock, stale, topics.JobSucceeded)
	clock.Advance(50 * time.Hour)
	fresh := healthHost(t, m, clock, "fresh-pc")
	healthBackup(t, m, clock, fresh, topics.JobSucceeded)
	broken := healthHost(t, m, clock, "broken-srv")
	healthBackup(t, m, clock, broken, topics.JobSucceeded)
	healthBackup(t, m, clock, broken, topics.JobFailed)
	for _, a := range []*servertest.HostAgent{stale, fresh, broken} {
		a.Connect(t, 1) // seen now
	}

	ctx := newBrowser(t)
	signIn(t, ctx, m)
	openDashboard(t, ctx, m)
	row := func(a *servertest.HostAgent) string { return `document.querySelector('#host-` + a.Host + `')` }
	count := func(state string) string {
		return `document.querySelector('[data-health-count="` + state + `"] span')?.textContent.trim()`
	}
	waitJS(t, ctx, "the stale host overdue with the age of its last success",
		row(stale)+`?.querySelector('[data-health="overdue"]')?.innerText.replace(/\s+/g, ' ').trim() === 'overdue last success 2 days ago'`, 10*time.Second)
	waitJS(t, ctx, "the fresh host without a health badge", row(fresh)+` !== null && `+row(fresh)+`.querySelector('[data-health]') === null`, 5*time.Second)
	waitJS(t, ctx, "the broken host failing", row(broken)+`?.querySelector('[data-health="failing"]') != null`, 5*time.Second)
	// The counts read the stored health word, which follows a host's change
	// within one round of the evaluator (2 s) and then reaches the open page
	// over SSE: more than the rows' live values take on a loaded machine.
	waitJS(t, ctx, "the header's counts",
		count("ok")+` === '1' && `+count("overdue")+` === '1' && `+count("failing")+` === '1' && `+count("offline")+` === '0' && `+count("pending")+` === '0'`,
		20*time.Second)
	screenshot(t, ctx, "dashboard-overdue")

	// The overdue count is a link to the dashboard filtered by it.
	browse(t, ctx, chromedp.Click(`[data-health-count="overdue"]`, chromedp.ByQuery))
	waitJS(t, ctx, "the overdue filter showing the stale host alone",
		`location.search === '?health=overdue' && document.querySelectorAll('#host-rows tr[id^="host-"]').length === 1 && `+row(stale)+
			` !== null && document.querySelector('#health').value === 'overdue'`, 10*time.Second)

	// Its page says why, and its own threshold (72 h) makes it fine.
	browse(t, ctx,
		chromedp.Navigate(m.HTTPURL()+"/hosts/"+stale.Host),
		chromedp.WaitVisible(`#alert-overdue`, chromedp.ByQuery),
	)
	waitJS(t, ctx, "the alerting card's reason", `document.querySelector('#alerting').innerText.includes('Overdue after 26 h without a successful backup')`, 5*time.Second)
	browse(t, ctx,
		chromedp.SendKeys(`#alert-overdue`, "72", chromedp.ByQuery),
		chromedp.Submit(`#alert-overdue`, chromedp.ByQuery),
	)
	waitJS(t, ctx, "the host's own threshold in force", `location.search === '?saved=1' && document.querySelector('#alert-overdue').value === '72'`+
		` && document.querySelector('#alerting').innerText.includes("this host's own threshold")`, 10*time.Second)
	h, err := m.Service().GetHost(t.Context(), stale.Host)
	if err != nil || h.Overdue || h.Health != server.HealthOK || h.Alerting.OverdueAfterSeconds == nil || *h.Alerting.OverdueAfterSeconds != 72*3600 {
		t.Fatalf("after its own 72 h: %+v %v", h, err)
	}
	browse(t, ctx, chromedp.Navigate(m.HTTPURL()+"/?health=overdue"), chromedp.WaitVisible(`#fleet`, chromedp.ByQuery))
	waitJS(t, ctx, "no overdue host left", `document.querySelectorAll('#host-rows tr[id^="host-"]').length === 0 && `+count("overdue")+` === '0'`, 10*time.Second)
}
