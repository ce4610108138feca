package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// userPage is the data of an admin's page for one user: role, disable or
// enable, password and two-factor resets, delete.
type userPage struct {
	page
	Account *server.Account
	Roles   []roleChoice
	Self    bool // the admin looking is this user
}

// userNotices are the sentences for ?done= after a change.
var userNotices = map[string]string{
	"role":       "Role changed. Their next request uses it; their open pages reload.",
	"disabled":   "User disabled: their sessions ended and their API tokens stopped working.",
	"enabled":    "User enabled: they can sign in again, and their API tokens work again.",
	"password":   "Password reset and their sessions ended. Give them the new password through a private channel.",
	"totp_reset": "Two-factor sign-in turned off for this user; they can set it up again on their Account page.",
}

// userIDParam reads :id; a bad one is answered with 404 and ok is false.
func (h *handler) userIDParam(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		h.fail(c, http.StatusNotFound, server.CodeNotFound, "There is no such user; pick one from the users list.")
		return 0, false
	}
	return id, true
}

// showUser shows one user's admin page.
func (h *handler) showUser(c *gin.Context) {
	id, ok := h.userIDParam(c)
	if !ok {
		return
	}
	h.renderUser(c, id, http.StatusOK, "")
}

func (h *handler) renderUser(c *gin.Context, id int64, status int, msg string) {
	acc, err := h.svc.Account(c.Request.Context(), id)
	if err != nil {
		h.pageError(c, err)
		return
	}
	p := userPage{page: h.basePage(c, acc.Name, "users"), Account: acc, Roles: roleChoices, Self: acc.ID == currentUser(c).ID}
	p.Error = msg
	if msg == "" {
		p.Notice = userNotices[c.Query("done")]
	}
	h.render(c, status, "user", p)
}

// userAction runs one admin change on :id: on success back to the user's
// page with a notice (done), else the page with the refusal.
func (h *handler) userAction(c *gin.Context, done string, change func(id int64) error) {
	id, ok := h.userIDParam(c)
	if !ok {
		return
	}
	if err := change(id); err != nil {
		h.logIfInternal(c, err)
		if server.ErrorCodeOf(err) == server.CodeNotFound {
			h.pageError(c, err)
			return
		}
		h.renderUser(c, id, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err))
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(id, 10)+"?done="+done)
}
