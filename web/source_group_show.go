package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// sourceGroupPage is the data of a source group's page: its settings,
// retention editor with preview, Run now and delete.
type sourceGroupPage struct {
	page
	Host      hostView
	Group     groupView
	Form      sourceGroupForm
	Zones     []string
	CanRun    bool
	RepoReady bool
	// ConfirmError is set when a delete was refused for a mistyped name.
	ConfirmError bool
}

// showSourceGroup shows a source group (by number or name) with its edit
// form; viewers see the same form without its buttons.
func (h *handler) showSourceGroup(c *gin.Context) {
	p, err := h.newSourceGroupPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	h.render(c, http.StatusOK, "source_group", p)
}

func (h *handler) newSourceGroupPage(c *gin.Context) (sourceGroupPage, error) {
	ctx := c.Request.Context()
	host, err := h.svc.GetHost(ctx, c.Param("id"))
	if err != nil {
		return sourceGroupPage{}, err
	}
	g, err := h.svc.GetSourceGroup(ctx, host.ID, c.Param("group"))
	if err != nil {
		return sourceGroupPage{}, err
	}
	repo, err := h.svc.GetRepository(ctx, host.ID)
	if err != nil {
		return sourceGroupPage{}, err
	}
	p := sourceGroupPage{page: h.basePage(c, g.Name+" · "+host.Name, "fleet"), Host: newHostView(*host),
		Group: newGroupView(*g), Form: sourceGroupFormOf(*g), Zones: timeZones, RepoReady: newRepoView(host.ID, repo).Ready()}
	p.CanRun = p.User != nil && p.User.Role.Allows(server.PermRunJobs)
	if p.Form.hookForm, err = h.groupHookForm(ctx, h.actor(c), host.ID, g.Key); err != nil {
		return sourceGroupPage{}, err
	}
	return p, nil
}

// sourceGroupPageRefused shows the group's page with one sentence about
// what went wrong and the refused form's values.
func (h *handler) sourceGroupPageRefused(c *gin.Context, status int, message string, keep func(*sourceGroupPage)) {
	p, err := h.newSourceGroupPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	p.Error = message
	keep(&p)
	h.render(c, status, "source_group", p)
}
