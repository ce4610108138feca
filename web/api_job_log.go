package web

import (
	"bufio"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// logPage is how many lines one JobLog call reads while a whole log is
// streamed out.
const logPage = 2000

// apiJobLog returns a job's whole log as text, one line per line, read from
// the store in pages so a long log never sits in memory at once. ?after=N
// starts after line N (to follow a running job's log). X-Log-Lines says how
// many lines were stored when the request started.
func (h *handler) apiJobLog(c *gin.Context) { h.writeJobLog(c, true) }

// showJobLog is the same text for the job page's "full log" link.
func (h *handler) showJobLog(c *gin.Context) { h.writeJobLog(c, false) }

func (h *handler) writeJobLog(c *gin.Context, api bool) {
	fail := func(err error) {
		if api {
			h.apiError(c, err)
		} else {
			h.pageError(c, err)
		}
	}
	id, ok := jobID(c)
	if !ok {
		fail(&server.Error{Code: server.CodeNotFound, Message: "There is no such job; check the job number."})
		return
	}
	var after uint64
	if s := c.Query("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			fail(invalid("after must be a line number (a whole number, 0 for the start)."))
			return
		}
		after = n
	}
	ctx := c.Request.Context()
	job, err := h.svc.GetJob(ctx, id)
	if err != nil {
		fail(err)
		return
	}
	lines, err := h.svc.JobLog(ctx, id, after, logPage)
	if err != nil {
		fail(err)
		return
	}
	hd := c.Writer.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Log-Lines", strconv.FormatInt(job.LogLines, 10))
	if !api {
		hd.Set("Content-Disposition", `inline; filename="job-`+strconv.FormatInt(id, 10)+`.log"`)
	}
	c.Status(http.StatusOK)
	w := bufio.NewWriterSize(c.Writer, 64<<10)
	for {
		for _, l := range lines {
			_, _ = w.WriteString(l.Text)
			_ = w.WriteByte('\n')
			after = l.N
		}
		if len(lines) < logPage {
			break
		}
		if lines, err = h.svc.JobLog(ctx, id, after, logPage); err != nil {
			// The status line is gone; the client sees a short body. Log it.
			h.log.Error("job log: read page", "job", id, "after", after, "err", err)
			break
		}
	}
	_ = w.Flush()
}
