package web

import (
	"strings"

	"github.com/gin-gonic/gin"
)

// loginForm is the sign-in form.
type loginForm struct {
	Name     string
	Password string
	Next     string // where to go after signing in; always a local path
}

func newLoginForm(c *gin.Context) loginForm {
	return loginForm{
		Name:     strings.TrimSpace(c.PostForm("name")),
		Password: c.PostForm("password"),
		Next:     safeNext(c.PostForm("next")),
	}
}

// validate returns one sentence about what is missing, or "".
func (f loginForm) validate() string {
	if f.Name == "" || f.Password == "" {
		return "Enter your user name and password."
	}
	if len(f.Name) > 200 || len(f.Password) > 1024 {
		return "Wrong user name or password."
	}
	return ""
}

// safeNext keeps a post-sign-in redirect on this site: a path starting with
// one slash, no scheme, no host, no backslash tricks, no control characters.
// Anything else becomes "/", so the sign-in page cannot be used to send
// people to another site.
func safeNext(next string) string {
	if next == "" || len(next) > 2000 || next[0] != '/' || strings.HasPrefix(next, "//") {
		return "/"
	}
	for _, r := range next {
		if r == '\\' || r < 0x20 || r == 0x7f {
			return "/"
		}
	}
	if strings.HasPrefix(next, "/login") || strings.HasPrefix(next, "/logout") {
		return "/"
	}
	return next
}
