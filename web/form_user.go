package web

import (
	"fmt"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// userForm is the "add a user" form.
type userForm struct {
	Name     string
	Role     string
	Password string
}

func newUserForm(c *gin.Context) userForm {
	return userForm{
		Name:     strings.TrimSpace(c.PostForm("name")),
		Role:     c.PostForm("role"),
		Password: c.PostForm("password"),
	}
}

// validate returns one sentence about what to fix, or "". The domain checks
// name characters and password length again.
func (f userForm) validate() string {
	switch {
	case f.Name == "":
		return "Enter a user name."
	case !server.Role(f.Role).Valid():
		return "Pick a role: viewer, operator or admin."
	case len(f.Password) < server.MinPasswordLen:
		return fmt.Sprintf("Passwords need at least %d characters; a few random words work well.", server.MinPasswordLen)
	case len(f.Password) > 1024:
		return "Passwords are at most 1024 characters."
	}
	return ""
}

// apiTokenForm is the "create an API token" form.
type apiTokenForm struct {
	User  string
	Label string
}

func newAPITokenForm(c *gin.Context) apiTokenForm {
	return apiTokenForm{User: strings.TrimSpace(c.PostForm("user")), Label: strings.TrimSpace(c.PostForm("label"))}
}

// validate returns one sentence about what to fix, or "".
func (f apiTokenForm) validate() string {
	if f.User == "" {
		return "Pick the user the token acts as."
	}
	if len(f.Label) > 100 {
		return "Token labels are at most 100 characters."
	}
	return ""
}

// passwordForm sets a password: a user's own (with the current one) or,
// for an admin resetting someone's, without.
type passwordForm struct {
	Current  string
	Password string
	Confirm  string
}

func newPasswordForm(c *gin.Context) passwordForm {
	return passwordForm{Current: c.PostForm("current_password"), Password: c.PostForm("password"), Confirm: c.PostForm("confirm_password")}
}

// validate returns one sentence about what to fix, or "". own asks for the
// current password too. The domain checks the length again.
func (f passwordForm) validate(own bool) string {
	switch {
	case own && f.Current == "":
		return "Enter your current password."
	case len(f.Password) < server.MinPasswordLen:
		return fmt.Sprintf("Passwords need at least %d characters; a few random words work well.", server.MinPasswordLen)
	case len(f.Password) > 1024 || len(f.Current) > 1024:
		return "Passwords are at most 1024 characters."
	case f.Confirm != f.Password:
		return "The two new passwords differ; type the same one twice."
	}
	return ""
}
