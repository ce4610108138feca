package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// restorePage is the restore form of one snapshot (#14): the paths picked
// (?include=… from the tree view; none = the whole snapshot), where they
// go, the overwrite policy and --verify.
type restorePage struct {
	page
	Host     server.Host
	Snapshot server.Snapshot
	Form     restoreForm
	// Targets are the other hosts a cross-host restore may go to (admins).
	Targets []restoreTarget
	// OverwriteOK: this host's restic has --overwrite (0.17+); otherwise
	// the policy select is disabled and says why.
	OverwriteOK bool
	Policies    []topics.OverwritePolicy
	MinRestic   string
}

// restoreTarget is one host of the "another host" select.
type restoreTarget struct {
	ID, Name, ResticVersion string
	OverwriteOK             bool
}

// showRestore shows the restore form of a snapshot.
func (h *handler) showRestore(c *gin.Context) {
	p, err := h.newRestorePage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	p.Form = restoreForm{Include: nonEmpty(c.QueryArray("include")), Where: restoreToDirectory, Overwrite: string(topics.OverwriteAlways)}
	h.render(c, http.StatusOK, "restore", p)
}

// newRestorePage loads the host, the snapshot (by full or short id, from
// the host's list) and, for an admin, the hosts a restore may go to.
func (h *handler) newRestorePage(c *gin.Context) (restorePage, error) {
	ctx := c.Request.Context()
	host, err := h.svc.GetHost(ctx, c.Param("id"))
	if err != nil {
		return restorePage{}, err
	}
	list, err := h.svc.Snapshots(ctx, host.ID)
	if err != nil {
		return restorePage{}, err
	}
	ref := c.Param("snap")
	i := slices.IndexFunc(list.Snapshots, func(s server.Snapshot) bool { return len(ref) >= 8 && strings.HasPrefix(s.ID, ref) })
	if i < 0 {
		return restorePage{}, &server.Error{Code: server.CodeNotFound,
			Message: "The host's snapshot list has no snapshot " + clip(ref, 64) + "; pick one from its snapshots."}
	}
	p := restorePage{page: h.basePage(c, "Restore "+list.Snapshots[i].ShortID, "fleet"), Host: *host,
		Snapshot: list.Snapshots[i], OverwriteOK: topics.ResticSupportsOverwrite(host.ResticVersion),
		Policies: topics.OverwritePolicies(), MinRestic: topics.OverwriteMinRestic}
	if p.IsAdmin {
		hosts, err := h.svc.ListHosts(ctx)
		if err != nil {
			return restorePage{}, err
		}
		for _, o := range hosts {
			if o.ID != host.ID {
				p.Targets = append(p.Targets, restoreTarget{ID: o.ID, Name: o.Name, ResticVersion: o.ResticVersion,
					OverwriteOK: topics.ResticSupportsOverwrite(o.ResticVersion)})
			}
		}
	}
	return p, nil
}

// createRestore queues the restore the form describes, on the snapshot's
// host or (another host) on the target host, and opens the job's page to
// watch its progress. A refused form comes back with its values and one
// sentence.
func (h *handler) createRestore(c *gin.Context) {
	p, err := h.newRestorePage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	p.Form = newRestoreForm(c)
	runOn, spec, msg := p.Form.job(p.Host.ID, p.Snapshot.ID)
	if msg != "" {
		p.Error = msg
		h.render(c, http.StatusBadRequest, "restore", p)
		return
	}
	job, err := h.svc.CreateJob(c.Request.Context(), h.actor(c), runOn, server.JobRequest{Spec: spec})
	if err != nil {
		status, msg := h.refusal(c, err)
		p.Error = msg
		h.render(c, status, "restore", p)
		return
	}
	c.Redirect(http.StatusSeeOther, "/jobs/"+itoa(job.ID))
}
