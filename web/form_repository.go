package web

import (
	"fmt"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// repositoryForm is the repository page's form and the optional repository
// part of the Accept form. The password and the backend environment are
// secrets: a refused form never fills them in again. The URL comes back
// (refillURL) unless it carries a password or a query string.
type repositoryForm struct {
	URL, Password, Env string
}

// refillURL is the URL a refused form shows again, or "" when the URL
// holds a secret (then the person types it again, as they do the password).
func (f repositoryForm) refillURL() string {
	if server.RepositoryURLHasSecret(f.URL) {
		return ""
	}
	return f.URL
}

func newRepositoryForm(c *gin.Context, prefix string) repositoryForm {
	return repositoryForm{
		URL:      strings.TrimSpace(c.PostForm(prefix + "url")),
		Password: c.PostForm(prefix + "password"),
		Env:      c.PostForm(prefix + "env"),
	}
}

// empty reports whether nothing was entered (the Accept form's repository
// is optional).
func (f repositoryForm) empty() bool {
	return f.URL == "" && f.Password == "" && strings.TrimSpace(f.Env) == ""
}

// request parses and validates the form, or says in one sentence what to
// fix, without quoting any value back.
func (f repositoryForm) request() (repositoryRequest, string) {
	req := repositoryRequest{URL: f.URL, Password: f.Password}
	if req.URL == "" {
		return req, "Enter the repository URL, e.g. /srv/restic-repo or s3:s3.amazonaws.com/bucket/host, then save again."
	}
	if req.Password == "" {
		return req, "Enter the repository password (restic encrypts the repository with it), then save again."
	}
	env, msg := parseEnvLines(f.Env)
	if msg != "" {
		return req, msg
	}
	req.Env = env
	if err := req.validate(); err != nil {
		return req, err.Error() + " Enter the password and the environment again: they are never shown back."
	}
	return req, ""
}

// parseEnvLines reads KEY=VALUE lines; blank lines and # comments are
// skipped. Errors name the line, never its value.
func parseEnvLines(s string) (map[string]string, string) {
	env := map[string]string{}
	n := 0
	for line := range strings.Lines(s) {
		n++
		line = strings.TrimRight(line, "\r\n")
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Sprintf("Line %d of the backend environment is not KEY=VALUE; fix it and save again.", n)
		}
		if _, dup := env[name]; dup {
			return nil, fmt.Sprintf("The backend environment sets %s twice (line %d); keep one and save again.", clip(name, 64), n)
		}
		env[name] = value
	}
	if len(env) == 0 {
		return nil, ""
	}
	return env, ""
}
