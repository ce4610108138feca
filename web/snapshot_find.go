package web

import (
	"net/http"
	"path"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// snapshotFindPage is a search of a host's snapshots (#14): each match
// with its snapshot and that snapshot's time, linking to its folder.
type snapshotFindPage struct {
	page
	HostID, HostName string
	Pattern          string
	Searched         bool
	Rows             []findRow
	Truncated        bool
	Failure          string
	Offline          bool
}

// findRow is one match.
type findRow struct {
	Snapshot, Short string
	Time            time.Time // zero when the server's list does not know the snapshot yet
	Path, Type      string
	Size            string
	FolderURL       string
}

// showSnapshotFind shows GET /hosts/{id}/snapshots/find?pattern=.
func (h *handler) showSnapshotFind(c *gin.Context) {
	ctx := c.Request.Context()
	hostID := c.Param("id")
	host, err := h.svc.GetHost(ctx, hostID)
	if err != nil {
		h.pageError(c, err)
		return
	}
	p := snapshotFindPage{page: h.basePage(c, "Search · "+host.Name, "fleet"), HostID: hostID, HostName: host.Name, Pattern: c.Query("pattern")}
	if p.Pattern == "" {
		h.render(c, http.StatusOK, "snapshot_find", p)
		return
	}
	p.Searched = true
	r, err := h.svc.AskAgent(ctx, h.actor(c), hostID, topics.Query{Op: topics.QueryFind, Pattern: p.Pattern})
	if err != nil {
		h.logIfInternal(c, err)
		p.Failure, p.Offline = server.PublicMessage(err), server.ErrorCodeOf(err) == server.CodeHostOffline
		h.render(c, statusOf(server.ErrorCodeOf(err)), "snapshot_find", p)
		return
	}
	times := snapshotTimes(c, h, hostID)
	p.Truncated = r.Find.Truncated
	for _, m := range r.Find.Matches {
		row := findRow{Snapshot: m.Snapshot, Short: shortID(m.Snapshot), Time: times[m.Snapshot], Path: m.Path, Type: m.Type,
			FolderURL: treeURL(hostID, m.Snapshot, path.Dir(m.Path), 0)}
		if m.Type == "file" {
			row.Size = humanBytes(m.Size)
		}
		p.Rows = append(p.Rows, row)
	}
	h.render(c, http.StatusOK, "snapshot_find", p)
}

// snapshotTimes maps the host's snapshot ids to their times, from the
// list the server holds (empty if it cannot be read: the times are a
// convenience).
func snapshotTimes(c *gin.Context, h *handler, hostID string) map[string]time.Time {
	times := map[string]time.Time{}
	list, err := h.svc.Snapshots(c.Request.Context(), hostID)
	if err != nil {
		h.logIfInternal(c, err)
		return times
	}
	for _, s := range list.Snapshots {
		times[s.ID] = s.Time
	}
	return times
}
