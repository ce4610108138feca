package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// runFleetAction runs the dashboard's fleet action form (#12.5) on the
// ticked hosts or every host of a tag. With HTMX it answers the result
// card alone (a refusal is a 200 with the sentence: HTMX swaps only 2xx);
// without, the dashboard with the result card and the form as typed.
func (h *handler) runFleetAction(c *gin.Context) {
	ctx := c.Request.Context()
	form := newFleetForm(c)
	req, msg := form.request()
	status := http.StatusBadRequest
	var res *server.FleetActionResult
	if msg == "" {
		var err error
		if res, err = h.svc.RunFleetAction(ctx, h.actor(c), req); err != nil {
			status, msg = h.refusal(c, err)
		}
	}
	view := fleetResultView{Error: msg}
	if res != nil {
		status, view = http.StatusOK, h.newFleetResultView(ctx, res)
	}
	if isHTMX(c.Request) {
		h.renderFragment(c, "dashboard", "fleet_result", view)
		return
	}
	p, err := h.newDashboardPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	p.SelfURL = "/" // the page re-reads the dashboard, not this form's address
	p.Fleet.Form, p.FleetResult = form, &view
	h.render(c, status, "dashboard", p)
}
