package web

import (
	"strconv"
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

// bulkRejectForm is the Pending hosts panel's "Reject selected" and "Reject
// all from address" forms: ticked machines (ids, repeated) and/or one
// source address (source_addr).
type bulkRejectForm struct {
	IDs        []int64
	SourceAddr string
}

func newBulkRejectForm(c *gin.Context) bulkRejectForm {
	f := bulkRejectForm{SourceAddr: strings.TrimSpace(c.PostForm("source_addr"))}
	for _, v := range c.PostFormArray("ids") {
		if id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && id > 0 {
			f.IDs = append(f.IDs, id)
		} else {
			f.IDs = append(f.IDs, 0) // never a row: the domain skips it
		}
	}
	return f
}

// validate returns one sentence about what to fix, or "".
func (f bulkRejectForm) validate() string {
	if len(f.IDs) == 0 && f.SourceAddr == "" {
		return "Tick the machines to reject (or use Reject all from an address), then press Reject selected again."
	}
	return ""
}
