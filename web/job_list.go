package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// jobsTable is a list of jobs, on the jobs page and a host page. It
// re-reads itself from ListURL when a new job appears; rows update in place.
type jobsTable struct {
	Jobs     []jobView
	HideHost bool   // every job is of one host: no host column
	ListURL  string // the page whose #jobs-body this list re-reads
	MoreURL  string // older jobs, or "" when there are none
	Empty    string // what an empty list says: what to do to fill it
}

// jobsPage is the data of the fleet-wide jobs page.
type jobsPage struct {
	page
	Table    jobsTable
	Query    jobListQuery
	Hosts    []server.Host // for the host filter
	HostName string        // the filtered host's name
	States   []topics.JobState
	Kinds    []topics.JobKind
	Filtered bool
}

// listJobs shows jobs newest first, filtered by ?status, ?kind and ?host,
// kept live over /events?jobs=1. ?before pages to older jobs.
func (h *handler) listJobs(c *gin.Context) {
	q, err := parseJobListQuery(c.Query)
	if err != nil {
		h.pageError(c, err)
		return
	}
	ctx := c.Request.Context()
	jobs, err := h.svc.ListJobs(ctx, q.filter())
	if err != nil {
		h.pageError(c, err)
		return
	}
	hosts, err := h.svc.ListHosts(ctx)
	if err != nil {
		h.pageError(c, err)
		return
	}
	p := jobsPage{page: h.basePage(c, "Jobs", "jobs"), Query: q, Hosts: hosts, Kinds: topics.JobKinds(),
		States: []topics.JobState{topics.JobQueued, topics.JobDelivered, topics.JobRunning, topics.JobSucceeded,
			topics.JobWarning, topics.JobFailed, topics.JobCanceled, topics.JobExpired, topics.JobInterrupted},
		Filtered: q.Host != "" || q.Status != "" || q.Kind != ""}
	for _, host := range hosts {
		if host.ID == q.Host {
			p.HostName = host.Name
		}
	}
	p.Table = jobsTable{Jobs: h.jobRowViews(jobs), HideHost: q.Host != "", ListURL: c.Request.URL.RequestURI(),
		Empty: "No jobs yet. Open a host from the fleet and press Back up now; its job shows here."}
	if p.Filtered || q.Before != 0 {
		p.Table.Empty = "No jobs match these filters; clear them to see every job."
	}
	if next := q.nextBefore(jobs); next != 0 {
		older := q
		older.Before = next
		p.Table.MoreURL = older.url()
	}
	h.render(c, http.StatusOK, "jobs", p)
}
