package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// usersPage is the data of the users and API tokens page.
type usersPage struct {
	page
	Users    []server.User
	Roles    []roleChoice
	Form     userForm
	Token    apiTokenForm
	NewToken string // an API token just created; shown once
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

// listUsers shows the users and the forms to add a user or an API token.
func (h *handler) listUsers(c *gin.Context) {
	p, err := h.newUsersPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	if name := c.Query("created"); name != "" && len(name) <= 64 {
		p.Notice = "User " + name + " added; give them their password through a private channel."
	}
	h.render(c, http.StatusOK, "users", p)
}

func (h *handler) newUsersPage(c *gin.Context) (usersPage, error) {
	users, err := h.svc.ListUsers(c.Request.Context())
	if err != nil {
		return usersPage{}, err
	}
	return usersPage{
		page:  h.basePage(c, "Users", "users"),
		Users: users,
		Roles: roleChoices,
		Form:  userForm{Role: string(server.RoleViewer)},
	}, nil
}
