package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// beginTOTP makes a new secret and shows its QR code; TOTP is on only once
// confirmTOTP gets a right code.
func (h *handler) beginTOTP(c *gin.Context) {
	e, err := h.svc.BeginTOTPEnrolment(c.Request.Context(), h.actor(c))
	if err != nil {
		h.logIfInternal(c, err)
		h.renderAccount(c, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err))
		return
	}
	h.showAccountWith(c, func(p *accountPage) { p.Enrol = newTOTPEnrolView(e) })
}

// confirmTOTP turns TOTP on with the first code and shows the recovery
// codes, once. Like new tokens, they are answered with a page, never a
// redirect, so they stay out of URLs and history.
func (h *handler) confirmTOTP(c *gin.Context) {
	code := c.PostForm("code")
	if code == "" || len(code) > 16 {
		h.renderAccount(c, http.StatusBadRequest, "Enter the 6-digit code the app shows for restic-manager.")
		return
	}
	codes, err := h.svc.ConfirmTOTP(c.Request.Context(), h.actor(c), code)
	if err != nil {
		h.logIfInternal(c, err)
		h.renderAccount(c, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err))
		return
	}
	h.showAccountWith(c, func(p *accountPage) {
		// The session was checked before the change; the rule is met now.
		p.MustEnrol = false
		p.RecoveryCodes = codes
		p.Notice = "Two-factor sign-in is on. Keep the recovery codes below somewhere safe; they are shown only now."
	})
}

// showAccountWith renders the Account page as fill leaves it.
func (h *handler) showAccountWith(c *gin.Context, fill func(*accountPage)) {
	p, err := h.newAccountPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	fill(&p)
	h.render(c, http.StatusOK, "account", p)
}

// disableTOTP turns the user's own TOTP off (the password is required).
func (h *handler) disableTOTP(c *gin.Context) {
	password := c.PostForm("current_password")
	if password == "" || len(password) > 1024 {
		h.renderAccount(c, http.StatusBadRequest, "Enter your password to turn two-factor sign-in off.")
		return
	}
	if err := h.svc.DisableTOTP(c.Request.Context(), h.actor(c), password); err != nil {
		h.logIfInternal(c, err)
		h.renderAccount(c, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err))
		return
	}
	c.Redirect(http.StatusSeeOther, "/account?done=totp_off")
}
