package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// enrollPage is the data of the enroll page.
type enrollPage struct {
	page
	Form       enrollmentForm
	TTLChoices []ttlChoice
	Tokens     []server.EnrollmentToken
	Created    *createdToken // the token just made; shown once, never again
	// Announce installs without a token: the machine waits for approval.
	Announce enrollCommands
}

// createdToken is a new token with the commands that use it.
type createdToken struct {
	HostName  string
	ExpiresAt time.Time
	Commands  enrollCommands
}

// showEnroll shows the token form and the unused tokens.
func (h *handler) showEnroll(c *gin.Context) {
	p, err := h.newEnrollPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	if c.Query("revoked") != "" {
		p.Notice = "Token revoked; it can no longer enroll a machine."
	}
	h.render(c, http.StatusOK, "enroll", p)
}

func (h *handler) newEnrollPage(c *gin.Context) (enrollPage, error) {
	tokens, err := h.svc.ListEnrollmentTokens(c.Request.Context())
	if err != nil {
		return enrollPage{}, err
	}
	return enrollPage{
		page:       h.basePage(c, "Enroll a host", "enroll"),
		Form:       enrollmentForm{TTL: defaultTTLChoice},
		TTLChoices: ttlChoices,
		Tokens:     tokens,
		Announce:   h.announceCommandsFor(h.publicURL(c.Request)),
	}, nil
}
