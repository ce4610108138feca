package web

import (
	"bytes"
	"context"
	"html/template"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// How jobs reach open pages:
//
//   - A job page (/events?job=N&after=L) gets its header (state, times,
//     cancel button) as "job" whenever the job changes, rendered for that
//     viewer; its progress bar (the summary once it ended) as
//     "job-progress"; and its log as
//     "job-log": only the lines after the last one that stream has. The
//     hub keeps that number per stream (lastLine), starting from the
//     page's own last line (after=L), so nothing is sent twice and nothing
//     is skipped. Each log message carries its last line number as the SSE
//     id, and app.js keeps ?after= in step, so a reconnecting page resumes
//     where it was.
//   - Log lines and progress are flushed per tick (jobTick), whatever the
//     number of events: one JobLog query per watched job per tick, each
//     line escaped once, and per stream only the suffix it lacks.
//   - Job lists (the jobs page, a host page's recent jobs) get a job's row
//     cells as "job-<id>" and "jobs-changed" when a job they have never
//     seen appears (the list re-reads itself: it knows its own filter).

// logFlushMax bounds the lines one tick sends a job's pages; a page far
// behind (a reconnect in a long log) catches up over the next ticks.
const logFlushMax = 2000

// jobTicks is what the next tick flushes.
type jobTicks struct{ logs, progress map[int64]bool }

func newJobTicks() jobTicks { return jobTicks{logs: map[int64]bool{}, progress: map[int64]bool{}} }

func (t jobTicks) empty() bool { return len(t.logs) == 0 && len(t.progress) == 0 }

// take moves a batch's log and progress events into the tick set. A job
// whose state changed is flushed too: its last lines may be waiting.
func (t jobTicks) take(b *batch) {
	for id := range b.logs {
		t.logs[id] = true
	}
	for id := range b.progress {
		t.progress[id] = true
	}
	for id := range b.jobs {
		t.logs[id] = true
	}
}

// resyncJobPages: events were lost, so every open job page gets its header,
// progress and any log lines it lacks.
func (hb *hub) resyncJobPages(t *jobTicks, b *batch) {
	for _, cl := range hb.clientsWhere(func(cl *sseClient) bool { return cl.jobID != 0 }) {
		b.jobs[cl.jobID] = true
		t.logs[cl.jobID], t.progress[cl.jobID] = true, true
	}
}

// publishJobs sends changed jobs to the pages that show them; it marks the
// hosts of changed backups in vitals (their "last backup" line).
func (hb *hub) publishJobs(ctx context.Context, jobs map[int64]bool, vitals map[string]bool) {
	if len(hb.clientsWhere(func(cl *sseClient) bool { return cl.jobID != 0 || cl.jobs || cl.hostID != "" })) == 0 {
		// Nobody looks at jobs (a night of backups on an unwatched
		// dashboard): read none, remember only how far the ids went.
		for id := range jobs {
			hb.maxJobID = max(hb.maxJobID, id)
		}
		return
	}
	newHosts := map[string]bool{}
	for id := range jobs {
		job, err := hb.svc.GetJob(ctx, id)
		if err != nil {
			if server.ErrorCodeOf(err) == server.CodeInternal {
				hb.log.Error("event hub: get job", "job", id, "err", err)
			}
			continue
		}
		if vitals != nil && job.Kind == topics.JobBackup {
			vitals[job.HostID] = true
		}
		hb.sendJobPages(job)
		hb.sendRow(job)
		if id > hb.maxJobID {
			hb.maxJobID = id
			newHosts[job.HostID] = true
		}
	}
	if len(newHosts) > 0 {
		hb.send(func(cl *sseClient) bool { return cl.jobs || newHosts[cl.hostID] }, sseMessage{event: sseJobsChanged, data: "1"})
	}
}

// sendJobPages sends a job's pages its header, rendered per viewer, and its
// progress bar.
func (hb *hub) sendJobPages(job *server.Job) {
	v := newJobView(*job)
	pages := hb.clientsWhere(func(cl *sseClient) bool { return cl.jobID == job.ID })
	var schedule string
	if len(pages) > 0 && job.ScheduleID != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		schedule = hb.h.loadHostNames(ctx, job.HostID).scheduleOf(*job)
		cancel()
	}
	for _, cl := range pages {
		var buf bytes.Buffer
		if err := hb.h.tpl.fragment(&buf, "job", "job_head", jobHead{Job: v, CSRF: cl.csrf, CanRun: cl.canRun, Schedule: schedule}); err != nil {
			hb.log.Error("event hub: render", "template", "job_head", "err", err)
			return
		}
		hb.sendTo(cl, sseMessage{event: sseJob, data: buf.String()})
	}
	hb.sendProgress(job)
}

// joinedJobPage brings a job page that just (re)connected up to date: the
// job may have changed while it was away.
func (hb *hub) joinedJobPage(id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	job, err := hb.svc.GetJob(ctx, id)
	if err != nil {
		return // the page shows its own error on reload
	}
	hb.sendJobPages(job)
}

// sendRow renders a job's row cells for the lists that may show it: the
// jobs page and its host's page.
func (hb *hub) sendRow(job *server.Job) {
	hostID := job.HostID
	listed := func(cl *sseClient) bool { return cl.jobs || (cl.hostID != "" && cl.hostID == hostID) }
	if len(hb.clientsWhere(listed)) == 0 {
		return
	}
	hb.sendFragment(listed, sseJobRow+strconv.FormatInt(job.ID, 10), "jobs", "job_cells", hb.h.jobRowView(*job))
}

// sendProgress renders a job's progress bar for its pages.
func (hb *hub) sendProgress(job *server.Job) {
	id := job.ID
	pages := func(cl *sseClient) bool { return cl.jobID == id }
	if len(hb.clientsWhere(pages)) == 0 {
		return
	}
	p, _ := hb.svc.JobProgress(id)
	hb.sendFragment(pages, sseJobProgress, "job", "job_progress", newProgressView(*job, p))
}

// flushJobs sends what the tick collected and returns what is left for the
// next one (pages still catching up on a long log).
func (hb *hub) flushJobs(t jobTicks) jobTicks {
	next := newJobTicks()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for id := range t.logs {
		pages := hb.clientsWhere(func(cl *sseClient) bool { return cl.jobID == id })
		if len(pages) > 0 && hb.flushLog(ctx, id, pages) {
			next.logs[id] = true
		}
	}
	// Progress goes to the job's pages (the bar) and to the lists that
	// show its row ("running 42 %"); the job is read for its state, so a
	// bar never outlives the end of its job.
	for id := range t.progress {
		if len(hb.clientsWhere(func(cl *sseClient) bool { return cl.jobID == id || cl.jobs || cl.hostID != "" })) == 0 {
			continue // nobody looks at jobs: do not read it
		}
		job, err := hb.svc.GetJob(ctx, id)
		if err != nil {
			continue
		}
		hb.sendProgress(job)
		hb.sendRow(job)
	}
	return next
}

// flushLog sends each page the lines after its lastLine, reading and
// escaping them once for all pages. It reports whether more lines wait.
func (hb *hub) flushLog(ctx context.Context, id int64, pages []*sseClient) bool {
	from := pages[0].lastLine
	for _, cl := range pages[1:] {
		from = min(from, cl.lastLine)
	}
	lines, err := hb.svc.JobLog(ctx, id, from, logFlushMax)
	if err != nil {
		hb.log.Error("event hub: job log", "job", id, "err", err)
		return false
	}
	if len(lines) == 0 {
		return false
	}
	names := hb.logNames(ctx, id, lines)
	rendered := make([]string, len(lines))
	for i, l := range lines {
		rendered[i] = namedLogLineHTML(l, names)
	}
	last := lines[len(lines)-1].N
	suffixes := map[int]string{} // pages that have the same line share the text
	for _, cl := range pages {
		i := sort.Search(len(lines), func(i int) bool { return lines[i].N > cl.lastLine })
		if i == len(lines) {
			continue
		}
		data, ok := suffixes[i]
		if !ok {
			data = strings.Join(rendered[i:], "")
			suffixes[i] = data
		}
		hb.sendTo(cl, sseMessage{event: sseJobLog, data: data, id: last})
		cl.lastLine = last
	}
	return len(lines) == logFlushMax
}

// logNames are the names for the ids the lines mention (job_names.go),
// read only when a line mentions one.
func (hb *hub) logNames(ctx context.Context, id int64, lines []server.LogLine) hostNames {
	for _, l := range lines {
		if mentionsHostIDs(l.Text) {
			if job, err := hb.svc.GetJob(ctx, id); err == nil {
				return hb.h.loadHostNames(ctx, job.HostID)
			}
			break
		}
	}
	return hostNames{}
}

// logLineHTML is one log line as the job page shows it: a child of #job-log
// carrying its number (data-n), so app.js can drop a line it already has.
func logLineHTML(l server.LogLine) string { return namedLogLineHTML(l, hostNames{}) }

// namedLogLineHTML is logLineHTML showing the host's ids by their names.
func namedLogLineHTML(l server.LogLine, names hostNames) string {
	var b strings.Builder
	b.Grow(len(l.Text) + 40)
	b.WriteString(`<div class="ln`)
	switch l.Stream {
	case "err":
		b.WriteString(" ln-err")
	case "agent":
		b.WriteString(" ln-agent")
	}
	if topics.IsHookLine(l.Stream, l.Text) {
		b.WriteString(" ln-hook")
	}
	b.WriteString(`" data-n="`)
	b.WriteString(strconv.FormatUint(l.N, 10))
	b.WriteString(`">`)
	b.WriteString(names.html(l.Text))
	b.WriteString("</div>")
	return b.String()
}

// logLinesHTML renders lines for the job page's first paint, exactly as the
// stream sends later ones.
func logLinesHTML(lines []server.LogLine, names hostNames) template.HTML {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(namedLogLineHTML(l, names))
	}
	return template.HTML(b.String()) //nolint:gosec // every line went through hostNames.html, which escapes
}
