package web

import (
	"encoding/base64"
	"html/template"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// accountPage is the data of the Account page: every user's own password
// and two-factor sign-in.
type accountPage struct {
	page
	Account       *server.Account
	MustEnrol     bool           // admins must use TOTP and this one has none yet
	Enrol         *totpEnrolView // an enrolment waiting for its first code
	RecoveryCodes []string       // just made; shown once
}

// totpEnrolView is what the enrol step shows: the QR code as a PNG data:
// URI (rendered here, so no request leaves the page) and the secret typed
// by hand when a camera is not at hand.
type totpEnrolView struct {
	QR     template.URL
	Secret string
}

func newTOTPEnrolView(e *server.TOTPEnrolment) *totpEnrolView {
	if e == nil {
		return nil
	}
	// The bytes are our own PNG, so the data: URI is safe to mark as such.
	return &totpEnrolView{QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QRPNG)), Secret: e.Secret}
}

// accountNotices are the sentences for ?done= after a change.
var accountNotices = map[string]string{
	"password": "Password changed. Your other sessions have been signed out.",
	"totp_off": "Two-factor sign-in is off.",
}

// showAccount shows the Account page, with an enrolment in progress if any.
func (h *handler) showAccount(c *gin.Context) {
	p, err := h.newAccountPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	if p.Enrol == nil {
		e, err := h.svc.PendingTOTPEnrolment(c.Request.Context(), h.actor(c))
		if err != nil {
			h.pageError(c, err)
			return
		}
		p.Enrol = newTOTPEnrolView(e)
	}
	p.Notice = accountNotices[c.Query("done")]
	h.render(c, http.StatusOK, "account", p)
}

func (h *handler) newAccountPage(c *gin.Context) (accountPage, error) {
	acc, err := h.svc.Account(c.Request.Context(), currentUser(c).ID)
	if err != nil {
		return accountPage{}, err
	}
	p := accountPage{page: h.basePage(c, "Account", "account"), Account: acc}
	if s := currentSession(c); s != nil {
		p.MustEnrol = s.MustEnrolTOTP
	}
	return p, nil
}

// renderAccount shows the Account page after a refused form: status and
// one sentence, with the enrolment in progress (if any) still shown.
func (h *handler) renderAccount(c *gin.Context, status int, msg string) {
	p, err := h.newAccountPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	e, err := h.svc.PendingTOTPEnrolment(c.Request.Context(), h.actor(c))
	if err != nil {
		h.pageError(c, err)
		return
	}
	p.Enrol, p.Error = newTOTPEnrolView(e), msg
	h.render(c, status, "account", p)
}
