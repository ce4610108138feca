package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// snapshotTreePage is one folder of a snapshot (#14): breadcrumbs, one
// page of rows (folders first), a pager, per-row download links and
// checkboxes for a restore of what is ticked.
type snapshotTreePage struct {
	page
	HostID, HostName string
	Snapshot, Short  string
	Path             string
	Crumbs           []treeCrumb
	Rows             []treeRow
	PageNo, Pages    int // PageNo from 1 for people
	Total            int
	Truncated        bool
	PrevURL, NextURL string
	// CanRun offers downloads and restore (they need PermRunJobs).
	CanRun bool
	// Failure says why there are no rows (offline, no answer, the
	// agent's refusal); Offline marks the host offline.
	Failure string
	Offline bool
}

// treeCrumb is one element of the path, linking to its folder.
type treeCrumb struct{ Name, URL string }

// treeRow is one entry of the folder.
type treeRow struct {
	Name, Path, Type, Size string
	MTime                  time.Time
	IsDir                  bool
	OpenURL                string // a folder's own tree page
	DownloadURL            string // a file's download, a folder's as tar.gz and zip below
	TarURL, ZipURL         string
}

// showSnapshotTree shows GET /hosts/{id}/snapshots/{snap}/tree?path=&page=.
func (h *handler) showSnapshotTree(c *gin.Context) {
	hostID, snap := c.Param("id"), c.Param("snap")
	host, err := h.svc.GetHost(c.Request.Context(), hostID)
	if err != nil {
		h.pageError(c, err)
		return
	}
	p := snapshotTreePage{page: h.basePage(c, "Browse "+shortID(snap)+" · "+host.Name, "fleet"),
		HostID: hostID, HostName: host.Name, Snapshot: snap, Short: shortID(snap), CanRun: h.actor(c).Role.Allows(server.PermRunJobs)}
	q, err := treeQuery(c)
	p.Path = q.Path
	p.Crumbs = treeCrumbs(hostID, snap, q.Path)
	status := http.StatusOK
	var r *topics.Reply
	if err == nil {
		r, err = h.svc.AskAgent(c.Request.Context(), h.actor(c), hostID, q)
	}
	if err != nil {
		h.logIfInternal(c, err)
		status, p.Failure = statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err)
		p.Offline = server.ErrorCodeOf(err) == server.CodeHostOffline
		h.render(c, status, "snapshot_tree", p)
		return
	}
	t := r.Tree
	p.Total, p.Truncated, p.PageNo = t.Total, t.Truncated, t.Page+1
	p.Pages = max(1, (min(t.Total, topics.MaxTreeEntries)+topics.TreePageSize-1)/topics.TreePageSize)
	if t.Page > 0 {
		p.PrevURL = treeURL(hostID, snap, q.Path, t.Page-1)
	}
	if t.Page+1 < p.Pages {
		p.NextURL = treeURL(hostID, snap, q.Path, t.Page+1)
	}
	for _, e := range t.Entries {
		full := joinSnapshotPath(q.Path, e.Name)
		row := treeRow{Name: e.Name, Path: full, Type: e.Type, MTime: e.MTime, IsDir: e.Type == "dir"}
		download := "/hosts/" + url.PathEscape(hostID) + "/snapshots/" + url.PathEscape(snap) + "/download?" + url.Values{"path": {full}}.Encode()
		switch {
		case row.IsDir:
			row.OpenURL = treeURL(hostID, snap, full, 0)
			row.TarURL, row.ZipURL = download+"&format=tar.gz", download+"&format=zip"
		case e.Type == "file":
			row.Size, row.DownloadURL = humanBytes(e.Size), download
		}
		p.Rows = append(p.Rows, row)
	}
	h.render(c, status, "snapshot_tree", p)
}

// treeURL is the tree page of path in snap, at page (from 0).
func treeURL(hostID, snap, path string, page int) string {
	v := url.Values{"path": {path}}
	if page > 0 {
		v.Set("page", fmt.Sprint(page))
	}
	return "/hosts/" + url.PathEscape(hostID) + "/snapshots/" + url.PathEscape(snap) + "/tree?" + v.Encode()
}

// joinSnapshotPath is dir/name in a snapshot's slash paths.
func joinSnapshotPath(dir, name string) string {
	return strings.TrimSuffix(dir, "/") + "/" + name
}

// treeCrumbs are the links to path's folders, the root first.
func treeCrumbs(hostID, snap, path string) []treeCrumb {
	crumbs := []treeCrumb{{Name: "/", URL: treeURL(hostID, snap, "/", 0)}}
	cur := ""
	for _, el := range strings.Split(strings.Trim(path, "/"), "/") {
		if el == "" {
			continue
		}
		cur += "/" + el
		crumbs = append(crumbs, treeCrumb{Name: el, URL: treeURL(hostID, snap, cur, 0)})
	}
	return crumbs
}
