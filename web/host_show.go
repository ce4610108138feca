package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// hostPage is the data of a host's page.
type hostPage struct {
	page
	Host      hostVitals
	Jobs      jobsTable
	Snapshots snapshotsView
	// Form holds what was posted when a job form was refused, so nothing
	// typed is lost; otherwise the backup form's prefill.
	Form jobForm
	// BackupPaths prefills Back up now (see backupPrefill).
	BackupPaths string
	CanRun      bool
	// CanRemoveData offers forget and prune: an ad-hoc job that removes
	// data is admin-only (server/jobs_permission.go).
	CanRemoveData bool
	// Sources and Schedules tabs (#4) and the Settings tab's caps.
	Groups       []groupView
	Schedules    []scheduleView
	GroupForm    sourceGroupForm
	ScheduleForm scheduleForm
	// ScheduleError is the refused edit of one schedule (its ID), shown
	// with its values; -1 for the new-schedule form.
	ScheduleError int64
	BandwidthUp   string
	BandwidthDown string
	Zones         []string
	// TagsTyped is the tags field as typed when it was refused (#12.5).
	TagsTyped string
	// Alerting is the Alerting card's thresholds (#13, health_alerting_set.go).
	Alerting alertingForm
	// Charts are the backups and the repository's size (#13, stats_view.go).
	Charts chartsView
}

// hostVitals is the head of a host page: the host, its repository and its
// last backup. The event hub re-renders it alone.
type hostVitals struct {
	hostView
	Repo       repoView
	LastBackup *jobView
	// Next is the host's next scheduled backup; Config its desired and
	// applied config version and bandwidth caps.
	Next   runTimes
	Config server.ConfigStatus
}

// recentJobs is how many jobs the host page lists.
const recentJobs = 10

// showHost shows one host: vitals, Back up now, recent jobs, snapshots and
// maintenance, kept live over /events?host=ID.
func (h *handler) showHost(c *gin.Context) {
	p, err := h.newHostPage(c, c.Param("id"))
	if err != nil {
		h.pageError(c, err)
		return
	}
	switch {
	case c.Query("queued") != "":
		p.Notice = "Job " + clip(c.Query("queued"), 20) + " is queued; the list below updates when the host reports."
	case c.Query("saved") != "":
		p.Notice = "Saved. The host applies the new configuration as soon as it is connected; its schedules run even while it is not."
	case c.Query("deleted") != "":
		p.Notice = "Deleted. The group's schedules are gone; its snapshots stay in the repository."
	}
	h.render(c, http.StatusOK, "host", p)
}

// newHostPage loads everything a host page shows.
func (h *handler) newHostPage(c *gin.Context, hostID string) (hostPage, error) {
	ctx := c.Request.Context()
	host, err := h.svc.GetHost(ctx, hostID)
	if err != nil {
		return hostPage{}, err
	}
	vitals, err := h.loadVitals(ctx, *host)
	if err != nil {
		return hostPage{}, err
	}
	jobs, err := h.svc.ListJobs(ctx, server.JobFilter{HostID: host.ID, Limit: recentJobs})
	if err != nil {
		return hostPage{}, err
	}
	snaps, err := h.svc.Snapshots(ctx, host.ID)
	if err != nil {
		return hostPage{}, err
	}
	p := hostPage{page: h.basePage(c, host.Name, "fleet"), Host: vitals}
	p.CanRun = p.User != nil && p.User.Role.Allows(server.PermRunJobs)
	p.CanRemoveData = p.User != nil && p.User.Role.MayRemoveData()
	p.Jobs = jobsTable{Jobs: h.jobRowViews(jobs), HideHost: true, ListURL: "/jobs?host=" + host.ID + "&limit=" + itoa(recentJobs),
		Empty: "No jobs yet. Setting a repository runs the first (init); then Back up now."}
	if len(jobs) == recentJobs {
		p.Jobs.MoreURL = jobListQuery{Host: host.ID, Before: jobs[len(jobs)-1].ID}.url()
	}
	p.BackupPaths = backupPrefill(vitals.LastBackup, snaps)
	groups, err := h.svc.ListSourceGroups(ctx, host.ID)
	if err != nil {
		return hostPage{}, err
	}
	scheds, err := h.svc.ListSchedules(ctx, host.ID)
	if err != nil {
		return hostPage{}, err
	}
	p.Snapshots = newSnapshotsView(host.ID, snaps, p.CanRun, p.CSRF, vitals.Repo.Ready(), newHostNames(groups, scheds))
	p.Groups = newGroupViews(groups)
	for _, s := range scheds {
		p.Schedules = append(p.Schedules, newScheduleView(s))
	}
	p.GroupForm, p.ScheduleForm, p.Zones = newSourceGroupForm(), newScheduleForm(), timeZones
	if p.GroupForm.hookForm, err = h.groupHookForm(ctx, h.actor(c), host.ID, ""); err != nil {
		return hostPage{}, err
	}
	p.BandwidthUp, p.BandwidthDown = kbpsField(vitals.Config.Bandwidth.UpKBps), kbpsField(vitals.Config.Bandwidth.DownKBps)
	alerting, err := h.svc.AlertingSettings(ctx)
	if err != nil {
		return hostPage{}, err
	}
	p.Alerting = newAlertingForm(*host, alerting)
	st, err := h.svc.HostStats(ctx, host.ID, defaultStatsDays)
	if err != nil {
		return hostPage{}, err
	}
	p.Charts = newChartsView(st)
	return p, nil
}

// kbpsField is a cap as its form field shows it: empty for none.
func kbpsField(n int) string {
	if n == 0 {
		return ""
	}
	return itoa(int64(n))
}

// loadVitals gathers a host's vitals: its repository state and last backup.
func (h *handler) loadVitals(ctx context.Context, host server.Host) (hostVitals, error) {
	v := hostVitals{hostView: h.withAgentStatus(ctx, []hostView{newHostView(host)})[0]}
	repo, err := h.svc.GetRepository(ctx, host.ID)
	if err != nil {
		return v, err
	}
	v.Repo = newRepoView(host.ID, repo)
	last, err := h.svc.ListJobs(ctx, server.JobFilter{HostID: host.ID, Kind: topics.JobBackup, Limit: 1})
	if err != nil {
		return v, err
	}
	if len(last) > 0 {
		jv := h.jobRowView(last[0])
		v.LastBackup = &jv
	}
	cfg, err := h.svc.GetConfigStatus(ctx, host.ID)
	if err != nil {
		return v, err
	}
	v.Config = *cfg
	scheds, err := h.svc.ListSchedules(ctx, host.ID)
	if err != nil {
		return v, err
	}
	v.Next = nextOf(scheds)
	return v, nil
}

// backupPrefill is what "Back up now" offers until source groups exist: the
// paths of the last backup, else those of the newest snapshot, else nothing
// (the field's placeholder shows an example).
func backupPrefill(last *jobView, snaps *server.SnapshotList) string {
	if last != nil && len(last.Spec.Paths) > 0 {
		return strings.Join(last.Spec.Paths, "\n")
	}
	if snaps != nil && len(snaps.Snapshots) > 0 {
		return strings.Join(snaps.Snapshots[0].Paths, "\n")
	}
	return ""
}
