package web

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

var lineNumRE = regexp.MustCompile(`data-n="(\d+)"`)

// lineNumbers are the log line numbers in a job-log fragment, in order.
func lineNumbers(t *testing.T, data string) []uint64 {
	t.Helper()
	var out []uint64
	for _, m := range lineNumRE.FindAllStringSubmatch(data, -1) {
		n, _ := strconv.ParseUint(m[1], 10, 64)
		out = append(out, n)
	}
	return out
}

// TestJobStreamSendsOnlyNewLines: a job page's stream gets the job's state
// changes, its progress, and each log line once — only the lines after the
// last one it has.
func TestJobStreamSendsOnlyNewLines(t *testing.T) {
	app := newTestApp(t)
	b, _ := app.signedIn("val", server.RoleViewer)
	host := app.readyHost("web-01")
	job := host.backup()
	stream := b.openEvents(fmt.Sprintf("/events?job=%d&after=0", job.ID))
	stream.next(sseJob) // the state it joined with

	job = host.start(job)
	for {
		head := stream.next(sseJob)
		if strings.Contains(head.data, ">running<") {
			if strings.Contains(head.data, "Cancel job") {
				t.Error("a viewer's header offers Cancel")
			}
			break
		}
	}
	host.logLines(job, 1, "open repository", "start scan", "<b>escaped</b>")
	m := stream.next(sseJobLog)
	if got := lineNumbers(t, m.data); fmt.Sprint(got) != "[1 2 3]" || m.id != 3 {
		t.Fatalf("first lines %v id %d: %s", got, m.id, m.data)
	}
	if !strings.Contains(m.data, "&lt;b&gt;escaped&lt;/b&gt;") || strings.Contains(m.data, "<b>") {
		t.Errorf("a log line is not escaped: %s", m.data)
	}
	host.logLines(job, 4, "scanned 10 files", "done scanning")
	m = stream.next(sseJobLog)
	if got := lineNumbers(t, m.data); fmt.Sprint(got) != "[4 5]" || m.id != 5 {
		t.Fatalf("next lines %v id %d", got, m.id)
	}

	host.progress(job, 37, 370, 1000)
	if p := stream.next(sseJobProgress); !strings.Contains(p.data, `data-percent="37"`) || !strings.Contains(p.data, "370 of 1,000 files") {
		t.Errorf("progress: %s", p.data)
	}

	// A page opened now, showing lines up to 4, gets line 5 at once; a
	// browser reconnecting by itself says where it was in Last-Event-ID.
	late := b.openEvents(fmt.Sprintf("/events?job=%d&after=4", job.ID))
	if got := lineNumbers(t, late.next(sseJobLog).data); fmt.Sprint(got) != "[5]" {
		t.Errorf("late page got %v", got)
	}
	resumed := b.openEventsWith(fmt.Sprintf("/events?job=%d&after=1", job.ID), http.Header{"Last-Event-ID": {"3"}})
	if got := lineNumbers(t, resumed.next(sseJobLog).data); fmt.Sprint(got) != "[4 5]" {
		t.Errorf("resumed page got %v", got)
	}

	snap := strings.Repeat("7a", 32)
	host.logLines(job, 6, "snapshot 7a7a7a7a saved")
	host.finish(job, topics.JobSucceeded, &topics.JobResult{SnapshotID: snap, Backup: &topics.BackupSummary{FilesNew: 9, DataAdded: 2048}})
	for {
		if strings.Contains(stream.next(sseJob).data, ">succeeded<") {
			break // its progress bar, with the summary, comes right after
		}
	}
	if p := stream.next(sseJobProgress); !strings.Contains(p.data, `id="job-summary"`) || !strings.Contains(p.data, "7a7a7a7a") ||
		!strings.Contains(p.data, `data-percent="100"`) {
		t.Errorf("finished progress lacks the summary: %s", p.data)
	}
	if got := lineNumbers(t, stream.next(sseJobLog).data); fmt.Sprint(got) != "[6]" {
		t.Errorf("last line %v", got)
	}
}

// TestJobStreamCancelButtonPerViewer: the header pushed to an operator's
// page carries Cancel with that session's CSRF token.
func TestJobStreamCancelButtonPerViewer(t *testing.T) {
	app := newTestApp(t)
	op, csrf := app.signedIn("ops", server.RoleOperator)
	host := app.readyHost("web-01")
	job := host.backup()
	stream := op.openEvents(fmt.Sprintf("/events?job=%d&after=0", job.ID))
	stream.next(sseJob)
	host.start(job)
	for {
		head := stream.next(sseJob)
		if strings.Contains(head.data, ">running<") {
			if !strings.Contains(head.data, "Cancel job") || !strings.Contains(head.data, `value="`+csrf+`"`) {
				t.Errorf("operator's header: %s", head.data)
			}
			return
		}
	}
}

// TestJobStreamBatchesLogLines: a job logging fast reaches its page in
// fewer messages than batches, every line exactly once and in order.
func TestJobStreamBatchesLogLines(t *testing.T) {
	app := newTestApp(t)
	b, _ := app.signedIn("val", server.RoleViewer)
	host := app.readyHost("web-01")
	job := host.start(host.backup())
	stream := b.openEvents(fmt.Sprintf("/events?job=%d&after=0", job.ID))

	const batches, perBatch = 40, 25
	for i := range batches {
		texts := make([]string, perBatch)
		for k := range texts {
			texts[k] = fmt.Sprintf("line %d", i*perBatch+k+1)
		}
		host.logLines(job, uint64(i*perBatch+1), texts...)
	}
	var got []uint64
	messages := 0
	for len(got) < batches*perBatch {
		got = append(got, lineNumbers(t, stream.next(sseJobLog).data)...)
		messages++
	}
	for i, n := range got {
		if n != uint64(i+1) {
			t.Fatalf("line %d arrived as %d (duplicate or gap)", i+1, n)
		}
	}
	if messages >= batches {
		t.Errorf("%d log batches took %d messages: lines are not batched per tick", batches, messages)
	}
	select {
	case m := <-stream.events:
		if m.event == sseJobLog {
			t.Errorf("an extra log message: %v", lineNumbers(t, m.data))
		}
	case <-time.After(3 * jobTick):
	}
}

// TestJobListsStream: job lists hear about new jobs and get rows' cells
// (never the listening <tr>); host pages hear about their own jobs,
// repository and snapshots.
func TestJobListsStream(t *testing.T) {
	app := newTestApp(t)
	b, _ := app.signedIn("val", server.RoleViewer)
	host := app.readyHost("web-01")
	other := app.readyHost("db-01")
	list := b.openEvents("/events?jobs=1")
	page := b.openEvents("/events?host=" + host.hostID)
	otherPage := b.openEvents("/events?host=" + other.hostID)

	job := host.backup()
	list.next(sseJobsChanged)
	page.next(sseJobsChanged)
	host.start(job)
	for _, s := range []*sseStream{list, page} {
		for {
			row := s.next(sseJobRow + itoa(job.ID))
			if strings.Contains(row.data, "<tr") || strings.Contains(row.data, "sse-swap") {
				t.Fatalf("row fragment replaces the listening <tr>: %s", row.data)
			}
			if strings.Contains(row.data, ">running<") {
				break
			}
		}
	}
	// Progress reaches the rows: "running 55 %".
	host.progress(job, 55.9, 559, 1000)
	for {
		if row := list.next(sseJobRow + itoa(job.ID)); strings.Contains(row.data, ">running 55 %<") {
			break
		}
	}
	// A finished backup changes the host's vitals ("last backup").
	host.finish(job, topics.JobSucceeded, nil)
	for {
		if v := page.next(sseVitals); strings.Contains(v.data, ">succeeded<") {
			break
		}
	}
	host.reportSnapshots(1)
	page.next(sseSnapshotsChanged)

	// The other host's page heard none of it (it may still hear of its own
	// setup, which the hub can deliver after the page joined).
	deadline := time.After(3 * jobTick)
	for {
		select {
		case m := <-otherPage.events:
			if m.event == sseJobRow+itoa(job.ID) || m.event == sseSnapshotsChanged {
				t.Errorf("another host's page got %q", m.event)
			}
			continue
		case <-deadline:
		}
		break
	}
}

// TestRepositoryStateIsLive: setting a repository and its init ending
// reach the host page's vitals, with the state word.
func TestRepositoryStateIsLive(t *testing.T) {
	app := newTestApp(t)
	b, _ := app.signedIn("val", server.RoleViewer)
	host := app.onlineHost("web-01")
	page := b.openEvents("/events?host=" + host.hostID)
	job, err := app.svc.SetRepository(t.Context(), server.CLIActor(), host.hostID, server.RepositoryInput{URL: "/srv/r", Password: testRepoPassword})
	if err != nil {
		t.Fatal(err)
	}
	waitVitals := func(word string) string {
		t.Helper()
		for {
			if v := page.next(sseVitals); strings.Contains(v.data, word) {
				return v.data
			}
		}
	}
	waitVitals("initializing…")
	host.finish(job, topics.JobSucceeded, &topics.JobResult{RepositoryID: strings.Repeat("1", 64)})
	v := waitVitals("repository ready")
	if !strings.Contains(v, `id="repo-state"`) || !strings.Contains(v, "initialised") {
		t.Errorf("vitals: %s", v)
	}
	assertNoSecrets(t, "vitals", v)
}

// TestStreamQueryIsChecked: a malformed job number is refused.
func TestStreamQueryIsChecked(t *testing.T) {
	app := newTestApp(t)
	b, _ := app.signedIn("val", server.RoleViewer)
	for _, q := range []string{"job=abc", "job=-1", "host=" + strings.Repeat("h", 65)} {
		if res := b.get("/events?" + q); res.StatusCode != http.StatusBadRequest {
			t.Errorf("/events?%s: %d", q, res.StatusCode)
		}
	}
}

// TestJobPagesJoiningInABurstAllCatchUp: a hundred pages of one finished
// job open their streams at once (more than any wake-up queue would hold);
// each still gets the lines stored after its page was rendered, without
// waiting for a log event that will never come.
func TestJobPagesJoiningInABurstAllCatchUp(t *testing.T) {
	app := newTestApp(t)
	b, _ := app.signedIn("val", server.RoleViewer)
	host := app.readyHost("web-01")
	job := host.start(host.backup())
	host.logLines(job, 1, "one", "two", "three")
	host.finish(job, topics.JobSucceeded, &topics.JobResult{})
	pages := make([]*sseStream, 100)
	var wg sync.WaitGroup
	for i := range pages {
		wg.Go(func() { pages[i] = b.openEvents(fmt.Sprintf("/events?job=%d&after=1", job.ID)) })
	}
	wg.Wait()
	for i, p := range pages {
		if got := lineNumbers(t, p.next(sseJobLog).data); fmt.Sprint(got) != "[2 3]" {
			t.Fatalf("page %d got %v", i, got)
		}
	}
}
