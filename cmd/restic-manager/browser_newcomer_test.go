package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// What a newcomer tripped over on the pages (#12 point 4) that only a real
// browser shows: layout and the browser's own widgets.

// newcomerHost starts a server with one enrolled host (no agent: its jobs
// stay queued) that has a repository, a source group with a daily
// schedule, and jobs whose descriptions are long, as real ones are.
func newcomerHost(t *testing.T) (*Main, string) {
	t.Helper()
	dir := t.TempDir()
	m := startServer(t, filepath.Join(dir, "data"), "127.0.0.1:0")
	svc, ctx, cli := m.Service(), t.Context(), server.CLIActor()
	token, _, err := svc.CreateEnrollmentToken(ctx, cli, "accounting-workstation-02", 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Enroll(ctx, server.EnrollRequest{Token: token, Hostname: "accounting-workstation-02.office.example.lan",
		OS: "linux", Arch: "amd64", AgentVersion: "0.1.0", ResticVersion: "0.18.1", RemoteAddr: "192.0.2.10"})
	if err != nil {
		t.Fatal(err)
	}
	host := res.HostID
	if _, err := svc.SetRepository(ctx, cli, host, server.RepositoryInput{URL: "/srv/restic/accounting-workstation-02", Password: "a long repository password"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateSourceGroup(ctx, cli, host, server.SourceGroupInput{Name: "documents",
		Paths: []string{"/home/accounting/Documents"}, Retention: &topics.Retention{Daily: 7}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateSchedule(ctx, cli, host, server.ScheduleInput{Kind: topics.JobBackup, SourceGroup: "documents",
		Cron: "0 3 * * *", TimeZone: "Europe/Berlin"}); err != nil {
		t.Fatal(err)
	}
	var jobs []*server.Job
	for _, spec := range []topics.JobSpec{
		{Kind: topics.JobBackup, Paths: []string{"/home/accounting/Documents/Quarterly-Reports-2026", "/srv/shared/accounting/invoices-archive", "/etc"},
			BandwidthUpKBps: 4096},
		{Kind: topics.JobCheck, ReadDataSubset: "10%"},
		{Kind: topics.JobForget, Retention: &topics.Retention{Daily: 7, Weekly: 4, Monthly: 12, Yearly: 3}, Prune: true},
		{Kind: topics.JobRestore, Snapshot: strings.Repeat("ab", 32), Target: "/srv/restore/accounting-workstation-02/2026-12-05",
			Include: []string{"/home/accounting/Documents/Quarterly-Reports-2026/Q3"}},
	} {
		j, err := svc.CreateJob(ctx, cli, host, server.JobRequest{Spec: spec})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	// The host reports: the backup failed with a long reason, the check
	// runs, the forget succeeded.
	svc.Presence().Connected(host, 1, "192.0.2.10:4000")
	var seq uint64
	report := func(j *server.Job, res *topics.JobResult, states ...topics.JobState) {
		t.Helper()
		for i, st := range states {
			seq++
			ev := &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, host), Seq: seq, Job: j.UID,
				Version: j.Version + int64(i) + 1, State: st, At: time.Now().UTC()}
			if st.Terminal() {
				ev.Result = res
			}
			b, err := topics.Encode(ev)
			if err != nil {
				t.Fatal(err)
			}
			svc.HandleMessage(topics.JobEventTopic(host, j.UID), b, host, 1)
		}
		if err := svc.SyncIngest(ctx); err != nil {
			t.Fatal(err)
		}
	}
	exit := 1
	report(jobs[0], &topics.JobResult{ExitCode: &exit, Reason: "restic could not read /home/accounting/Documents/Quarterly-Reports-2026: the path does not exist on this host",
		Detail: "Fatal: unable to save snapshot: snapshot is empty"}, topics.JobDelivered, topics.JobRunning, topics.JobFailed)
	report(jobs[1], nil, topics.JobDelivered, topics.JobRunning)
	exit = 0
	report(jobs[2], &topics.JobResult{ExitCode: &exit}, topics.JobDelivered, topics.JobRunning, topics.JobSucceeded)
	return m, host
}

// TestBrowserNewcomerPages (#12): what a newcomer tripped over on the
// pages, each a subtest of its own on one server and one signed-in browser
// tab (three tests, each with its own server, sign-in and renderer, had
// cost three times the setup for the same checks).
func TestBrowserNewcomerPages(t *testing.T) {
	t.Parallel()
	m, host := newcomerHost(t)
	ctx := newBrowser(t)
	signIn(t, ctx, m)
	t.Run("host page fits at 1400", func(t *testing.T) { hostPageFitsAt1400(t, ctx, m, host) })
	t.Run("future times say in", func(t *testing.T) { futureTimesSayIn(t, ctx, m) })
	// Last: it leaves the browser in a German locale.
	t.Run("schedule time input fits", func(t *testing.T) { scheduleTimeInputFits(t, ctx, m, host) })
}

// hostPageFitsAt1400: at 1400x900 the host page's Recent jobs table ends
// inside the viewport and inside its card: nothing is cut off or needs a
// sideways scroll.
func hostPageFitsAt1400(t *testing.T, ctx context.Context, m *Main, host string) {
	t.Helper()
	browse(t, ctx,
		chromedp.EmulateViewport(1400, 900),
		chromedp.Navigate(m.HTTPURL()+"/hosts/"+host),
		chromedp.WaitVisible(`#jobs-list table`, chromedp.ByQuery),
	)
	var got struct {
		Viewport   float64 `json:"viewport"`
		TableRight float64 `json:"tableRight"`
		CardRight  float64 `json:"cardRight"`
		Scrolls    bool    `json:"scrolls"`
		Rows       int     `json:"rows"`
	}
	browse(t, ctx, chromedp.Evaluate(`(() => {
		const table = document.querySelector('#jobs-list table');
		const card = table.closest('section.card');
		const box = table.parentElement;
		return {viewport: document.documentElement.clientWidth, tableRight: table.getBoundingClientRect().right,
			cardRight: card.getBoundingClientRect().right, scrolls: box.scrollWidth > box.clientWidth,
			rows: table.querySelectorAll('tbody tr').length};
	})()`, &got))
	screenshot(t, ctx, "host-1400")
	if got.Rows < 5 {
		t.Fatalf("the table has %d rows, want the init job and 4 more", got.Rows)
	}
	if got.TableRight > got.Viewport || got.TableRight > got.CardRight+0.5 || got.Scrolls {
		t.Errorf("Recent jobs at 1400 px: table ends at %.0f, card at %.0f, viewport %.0f, scrolls sideways %v",
			got.TableRight, got.CardRight, got.Viewport, got.Scrolls)
	}
}

// scheduleTimeInputFits: the schedule form's time field shows the whole
// time ("03:00 AM" in a 12-hour locale), not "03:00 A".
func scheduleTimeInputFits(t *testing.T, ctx context.Context, m *Main, host string) {
	t.Helper()
	for _, locale := range []string{"en-US", "de-DE"} {
		browse(t, ctx,
			chromedp.ActionFunc(func(ctx context.Context) error {
				return emulation.SetLocaleOverride().WithLocale(locale).Do(ctx)
			}),
			chromedp.EmulateViewport(1400, 900),
			chromedp.Navigate(m.HTTPURL()+"/hosts/"+host),
			chromedp.WaitReady(`#schedules`, chromedp.ByQuery),
		)
		// Open every schedule form: the new one and each edit form.
		browse(t, ctx, chromedp.Evaluate(`document.querySelectorAll('#schedules details').forEach(d => d.open = true)`, nil))
		var inputs []struct {
			ID     string  `json:"id"`
			Width  float64 `json:"width"`
			Needed float64 `json:"needed"`
		}
		// A time field's own (auto) width is what its widget needs to show
		// the whole time with its picker icon in this locale.
		browse(t, ctx, chromedp.Evaluate(`[...document.querySelectorAll('#schedules input[type=time]')].map(input => {
			const probe = input.cloneNode();
			probe.removeAttribute('id');
			probe.className = 'input';
			probe.style.width = 'auto';
			probe.style.position = 'absolute';
			input.parentElement.appendChild(probe);
			const needed = probe.getBoundingClientRect().width;
			probe.remove();
			return {id: input.id, width: input.getBoundingClientRect().width, needed};
		})`, &inputs))
		if len(inputs) == 0 {
			t.Fatalf("%s: no time input on the host page", locale)
		}
		screenshot(t, ctx, "schedule-time-"+locale)
		for _, in := range inputs {
			if in.Width+0.5 < in.Needed {
				t.Errorf("%s: time field %s is %.0f px wide, its time needs %.0f px", locale, in.ID, in.Width, in.Needed)
			}
		}
	}
}

// futureTimesSayIn: a time ahead of now reads "in …" on the dashboard too
// (app.js keeps times ageing), never "just now".
func futureTimesSayIn(t *testing.T, ctx context.Context, m *Main) {
	t.Helper()
	openDashboard(t, ctx, m)
	var got []string
	browse(t, ctx, chromedp.Evaluate(`(() => {
		const box = document.createElement('div');
		for (const s of [20, 300, -20, -300]) {
			const t = document.createElement('time');
			t.setAttribute('datetime', new Date(Date.now() + s * 1000).toISOString());
			t.setAttribute('data-rel', '');
			t.title = 'x';
			box.appendChild(t);
		}
		document.body.appendChild(box);
		htmx.process(box);
		box.dispatchEvent(new CustomEvent('htmx:load', {bubbles: true, detail: {elt: box}}));
		return [...box.querySelectorAll('time')].map(t => t.textContent);
	})()`, &got))
	want := []string{"in under 1 min", "in 5 min", "just now", "5 min ago"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("relative times in the browser: %q, want %q", got, want)
	}
}
