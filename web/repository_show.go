package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// repositoryPage is the data of a host's repository page.
type repositoryPage struct {
	page
	Host hostView
	Repo repoView
	// Hooks are the host's default hooks (#10), editable by admins.
	Hooks hookForm
	// FormURL is the URL a refused form had, shown again when it holds no
	// secret (repositoryForm.refillURL); the other fields come back empty.
	FormURL string
}

// showRepository shows a host's repository: its state, where it is (URL
// with any password redacted) and which backend variables are set, by name.
// The form sets a new one; the fields are write-only.
func (h *handler) showRepository(c *gin.Context) {
	p, err := h.newRepositoryPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	if n := c.Query("init"); n != "" {
		p.Notice = "Saved. The repository goes to the host and init job " + clip(n, 20) + " is queued; its state shows below."
	}
	if c.Query("hooks") == "saved" {
		p.Notice = "Saved. The host's default hooks go to the host with its next config."
	}
	h.render(c, http.StatusOK, "repository", p)
}

func (h *handler) newRepositoryPage(c *gin.Context) (repositoryPage, error) {
	ctx := c.Request.Context()
	host, err := h.svc.GetHost(ctx, c.Param("id"))
	if err != nil {
		return repositoryPage{}, err
	}
	repo, err := h.svc.GetRepository(ctx, host.ID)
	if err != nil {
		return repositoryPage{}, err
	}
	hooks, err := h.svc.GetHostHooks(ctx, h.actor(c), host.ID)
	if err != nil {
		return repositoryPage{}, err
	}
	return repositoryPage{page: h.basePage(c, "Repository · "+host.Name, "fleet"), Host: newHostView(*host),
		Repo: newRepoView(host.ID, repo), Hooks: newHookForm(hooks)}, nil
}

// repositoryPageWithError shows the repository page with one sentence about
// what went wrong. The form comes back with url (what refillURL allows) and
// without its secrets.
func (h *handler) repositoryPageWithError(c *gin.Context, status int, message, url string) {
	p, err := h.newRepositoryPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	p.Error, p.FormURL = message, url
	h.render(c, status, "repository", p)
}
