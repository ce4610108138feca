package web

import (
	"cmp"
	"html/template"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// jobPage is the data of a job's page.
type jobPage struct {
	page
	Head     jobHead
	Progress progressView
	Log      template.HTML // the last jobPageLines lines, as the stream sends later ones
	LastLine uint64        // the number of the last line shown; the stream sends the ones after it
	Earlier  int64         // lines stored before the first one shown
}

// jobHead is the job page's header: what, where, state, times, exit code,
// the summary once it ended, and Cancel for those who may. The event hub
// renders it per viewer (the cancel form carries their CSRF token).
type jobHead struct {
	Job    jobView
	CSRF   string
	CanRun bool
	// Schedule is the schedule that started the job, in words ("backup
	// daily at 03:00 (UTC)"), or "" (not scheduled, or deleted since).
	Schedule string
}

// jobPageLines is how much of the log the page shows at first; the whole
// log is a link away (/jobs/{id}/log).
const jobPageLines = 1000

// showJob shows one job: header, live progress, the log following its tail
// (over /events?job=N&after=L) and the summary at the end.
func (h *handler) showJob(c *gin.Context) {
	p, err := h.newJobPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	if c.Query("canceled") != "" && !p.Head.Job.Terminal() {
		p.Notice = "Cancel requested; the job stops as soon as the host hears of it."
	}
	h.render(c, http.StatusOK, "job", p)
}

func (h *handler) newJobPage(c *gin.Context) (jobPage, error) {
	id, ok := jobID(c)
	if !ok {
		return jobPage{}, &server.Error{Code: server.CodeNotFound, Message: "There is no such job; open it from the jobs page."}
	}
	ctx := c.Request.Context()
	job, err := h.svc.GetJob(ctx, id)
	if err != nil {
		return jobPage{}, err
	}
	var after uint64
	if job.LogLines > jobPageLines {
		after = uint64(job.LogLines - jobPageLines)
	}
	lines, err := h.svc.JobLog(ctx, id, after, jobPageLines)
	if err != nil {
		return jobPage{}, err
	}
	title := string(job.Kind) + " #" + itoa(id) + " · " + cmp.Or(job.HostName, job.HostID)
	var names hostNames
	if job.ScheduleID != 0 || slices.ContainsFunc(lines, func(l server.LogLine) bool { return mentionsHostIDs(l.Text) }) {
		names = h.loadHostNames(ctx, job.HostID)
	}
	p := jobPage{page: h.basePage(c, title, "jobs"), Log: logLinesHTML(lines, names), LastLine: after}
	if len(lines) > 0 {
		p.LastLine = lines[len(lines)-1].N
		p.Earlier = int64(lines[0].N) - 1
	}
	p.Head = jobHead{Job: newJobView(*job), CSRF: p.CSRF, CanRun: p.User != nil && p.User.Role.Allows(server.PermRunJobs),
		Schedule: names.scheduleOf(*job)}
	prog, _ := h.svc.JobProgress(id)
	p.Progress = newProgressView(*job, prog)
	return p, nil
}
