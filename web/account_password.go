package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// changeOwnPassword changes the signed-in user's password (the current one
// is required). This session stays signed in; the user's others end.
func (h *handler) changeOwnPassword(c *gin.Context) {
	form := newPasswordForm(c)
	if msg := form.validate(true); msg != "" {
		h.renderAccount(c, http.StatusBadRequest, msg)
		return
	}
	token, _ := c.Cookie(h.sessionCookieName())
	if err := h.svc.ChangeOwnPassword(c.Request.Context(), h.actor(c), form.Current, form.Password, token); err != nil {
		h.logIfInternal(c, err)
		h.renderAccount(c, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err))
		return
	}
	c.Redirect(http.StatusSeeOther, "/account?done=password")
}

// apiChangeOwnPassword is POST /api/v1/me/password: {"current_password",
// "password"} → 204. It needs a browser session (cookie and CSRF header):
// an API token may not change its user's password, so a leaked token
// cannot lock its owner out.
func (h *handler) apiChangeOwnPassword(c *gin.Context) {
	var req struct {
		Current  string `json:"current_password"`
		Password string `json:"password"`
	}
	if err := decodeStrictJSON(c.Request.Body, &req); err != nil {
		h.apiError(c, err)
		return
	}
	if req.Current == "" {
		h.apiFail(c, http.StatusBadRequest, server.CodeInvalid, "Send current_password (your password now) and password (the new one).")
		return
	}
	token, _ := c.Cookie(h.sessionCookieName())
	if err := h.svc.ChangeOwnPassword(c.Request.Context(), h.actor(c), req.Current, req.Password, token); err != nil {
		h.apiError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
