package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// usersPage is the data of the users and API tokens page.
type usersPage struct {
	page
	Users       []server.Account
	Active      []server.Account // who a new API token may act as
	Tokens      []server.APIToken
	RequireTOTP bool
	Monitor     server.MonitorSettings // Home Assistant discovery (api_settings_monitor.go)
	Roles       []roleChoice
	Form        userForm
	Token       apiTokenForm
	NewToken    string // an API token just created; shown once
}

// roleChoice explains a role where one is picked.
type roleChoice struct {
	Value, Label, Help string
}

var roleChoices = []roleChoice{
	{string(server.RoleViewer), "Viewer", "sees everything, changes nothing"},
	{string(server.RoleOperator), "Operator", "also runs and cancels jobs"},
	{string(server.RoleAdmin), "Admin", "also configures hosts, enrollment and users"},
}

// usersNotices are the sentences for ?done= after a change on this page.
var usersNotices = map[string]string{
	"revoked":      "API token revoked; it stops working at once.",
	"totp_on":      "Admins must now use two-factor sign-in; those without it are sent to set it up.",
	"totp_off":     "Admins no longer need two-factor sign-in.",
	"ha_on":        "Home Assistant discovery is on: every host's configs are published on the monitor feed.",
	"ha_off":       "Home Assistant discovery is off: the hosts' configs are removed from the monitor feed.",
	"user_deleted": "User deleted with their sessions and API tokens. The audit log keeps their history.",
}

// listUsers shows the users, the API tokens and the forms to add either.
func (h *handler) listUsers(c *gin.Context) {
	p, err := h.newUsersPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	if name := c.Query("created"); name != "" && len(name) <= 64 {
		p.Notice = "User " + name + " added; give them their password through a private channel."
	}
	if n, ok := usersNotices[c.Query("done")]; ok {
		p.Notice = n
	}
	h.render(c, http.StatusOK, "users", p)
}

func (h *handler) newUsersPage(c *gin.Context) (usersPage, error) {
	ctx := c.Request.Context()
	users, err := h.svc.ListAccounts(ctx)
	if err != nil {
		return usersPage{}, err
	}
	tokens, err := h.svc.ListAPITokens(ctx)
	if err != nil {
		return usersPage{}, err
	}
	require, err := h.svc.RequireTOTPForAdmins(ctx)
	if err != nil {
		return usersPage{}, err
	}
	monitor, err := h.svc.MonitorSettings(ctx)
	if err != nil {
		return usersPage{}, err
	}
	p := usersPage{
		Monitor:     monitor,
		page:        h.basePage(c, "Users", "users"),
		Users:       users,
		Tokens:      tokens,
		RequireTOTP: require,
		Roles:       roleChoices,
		Form:        userForm{Role: string(server.RoleViewer)},
	}
	for _, u := range users {
		if !u.Disabled {
			p.Active = append(p.Active, u)
		}
	}
	return p, nil
}
