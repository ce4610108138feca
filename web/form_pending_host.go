package web

import (
	"strings"

	"github.com/gin-gonic/gin"
)

// acceptForm is the Pending hosts panel's "accept as" form.
type acceptForm struct {
	Name string
}

func newAcceptForm(c *gin.Context) acceptForm {
	return acceptForm{Name: strings.TrimSpace(c.PostForm("name"))}
}

// validate returns one sentence about what to fix, or "". The domain checks
// the name's characters and that it is free.
func (f acceptForm) validate() string {
	if f.Name == "" {
		return "Enter the name the new host gets, e.g. web-01, then accept again."
	}
	return ""
}
