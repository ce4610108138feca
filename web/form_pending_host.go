package web

import (
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// acceptForm is the Pending hosts panel's "accept as" form: the name and,
// optionally, the repository (fields repo_url, repo_password, repo_env).
type acceptForm struct {
	Name string
	Repo repositoryForm
}

func newAcceptForm(c *gin.Context) acceptForm {
	return acceptForm{Name: strings.TrimSpace(c.PostForm("name")), Repo: newRepositoryForm(c, "repo_")}
}

// validate returns the repository to set (nil: none was entered) or one
// sentence about what to fix. The domain checks the name's characters and
// that it is free.
func (f acceptForm) validate() (*server.RepositoryInput, string) {
	if f.Name == "" {
		return nil, "Enter the name the new host gets, e.g. web-01, then accept again."
	}
	if f.Repo.empty() {
		return nil, ""
	}
	req, msg := f.Repo.request()
	if msg != "" {
		return nil, msg
	}
	in := req.input()
	return &in, ""
}
