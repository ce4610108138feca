package web

import (
	"context"
	"fmt"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// fleetPanel is the dashboard's "Act on several hosts" card (#12.5): the
// tags to choose from and the form's values as typed.
type fleetPanel struct {
	CSRF string
	Tags []string
	Form fleetForm
}

// fleetForm is the fleet action form as typed: which hosts (the ticked
// ones, every host tagged Tag, or every host matching the table's filter,
// #15: the whole filtered set, not the page shown) and the job options,
// kept so a refused form comes back with its values.
type fleetForm struct {
	Target  string // "picked", "tag" or "filter"
	HostIDs []string
	Tag     string
	Filter  server.HostFilter // the table's, from the filter_* fields
	Action  server.FleetAction
	Job     jobForm
}

func newFleetForm(c *gin.Context) fleetForm {
	f := fleetForm{Target: c.PostForm("target"), HostIDs: c.PostFormArray("host_id"), Tag: strings.TrimSpace(c.PostForm("tag")),
		Action: server.FleetAction(c.PostForm("action")), Job: newJobForm(c),
		Filter: server.HostFilter{Query: c.PostForm("filter_q"), Tag: c.PostForm("filter_tag"), State: server.HostState(c.PostForm("filter_state")),
			Health: server.HealthState(c.PostForm("filter_health")), OS: c.PostForm("filter_os")}}
	if f.Target != "tag" && f.Target != "filter" {
		f.Target = "picked"
	}
	return f
}

// request turns the form into a fleet action, or says in one sentence what
// to fix. A job action's options go through the host page's job form, so
// they read and are refused alike; pause and resume ignore them.
func (f fleetForm) request() (server.FleetActionRequest, string) {
	req := server.FleetActionRequest{Action: f.Action}
	if f.Target == "filter" {
		filter := f.Filter
		req.Filter = &filter
	} else if f.Target == "tag" {
		if f.Tag == "" {
			return req, "Choose the tag whose hosts to act on, or tick hosts in the table."
		}
		req.Tag = f.Tag
	} else {
		if len(f.HostIDs) == 0 {
			return req, "Tick at least one host in the table (the box in its header ticks every host on the page), choose a tag, or select all the hosts matching the filter."
		}
		req.HostIDs = f.HostIDs
	}
	kind := f.Action.JobKind()
	if kind == "" {
		return req, ""
	}
	jf := f.Job
	jf.Kind = kind
	spec, msg := jf.spec()
	if msg != "" {
		return req, msg
	}
	req.Job = server.JobRequest{Spec: spec, SourceGroup: jf.SourceGroup}
	return req, ""
}

// fleetResultView is the result of a fleet action, per host: the jobs
// (their rows follow the jobs stream live), the schedules changed, the
// hosts refused and why.
type fleetResultView struct {
	Error    string
	Title    string
	Summary  string
	Jobs     []jobView
	Offline  []string // names of hosts whose job waits for them
	Changed  []server.FleetHostResult
	Refused  []server.FleetHostResult
	Schedule string // "paused" or "resumed"
}

var fleetActionTitles = map[server.FleetAction]string{
	server.FleetBackup: "Back up now", server.FleetCheck: "Check", server.FleetUnlock: "Unlock",
	server.FleetPause: "Pause schedules", server.FleetResume: "Resume schedules",
}

// newFleetResultView reads each queued job once, for its live row.
func (h *handler) newFleetResultView(ctx context.Context, res *server.FleetActionResult) fleetResultView {
	v := fleetResultView{Title: fmt.Sprintf("%s on %d host(s)", fleetActionTitles[res.Action], len(res.Hosts)), Schedule: "resumed"}
	if res.Action == server.FleetPause {
		v.Schedule = "paused"
	}
	for _, r := range res.Hosts {
		switch {
		case !r.Done():
			v.Refused = append(v.Refused, r)
		case r.JobID != 0:
			j, err := h.svc.GetJob(ctx, r.JobID)
			if err != nil {
				h.log.Error("fleet action: load job", "job", r.JobID, "err", err)
				continue
			}
			v.Jobs = append(v.Jobs, h.jobRowView(*j))
			if !r.Online {
				v.Offline = append(v.Offline, r.Name)
			}
		default:
			v.Changed = append(v.Changed, r)
		}
	}
	done, refused := res.Counts()
	if res.Action.JobKind() != "" {
		v.Summary = fmt.Sprintf("%d job(s) queued, %d host(s) refused.", done, refused)
	} else {
		v.Summary = fmt.Sprintf("Schedules %s on %d host(s), %d host(s) refused.", v.Schedule, done, refused)
	}
	return v
}
