package web

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// snapshotDiffPage compares two snapshots of a host (#14): what the second
// added, removed and changed, with restic's sizes of the whole diff, and a
// form to pick another pair.
type snapshotDiffPage struct {
	page
	HostID, HostName string
	A, B             string // snapshot ids, "" before a pair is picked
	AShort, BShort   string
	Options          []diffOption
	Added, Removed   []string
	Changed          []diffChangeRow
	Stats            *topics.DiffStats
	AddedBytes       string
	RemovedBytes     string
	Truncated        bool
	Failure          string
	Offline          bool
}

// diffOption is one snapshot offered by the pickers.
type diffOption struct{ ID, Label string }

// diffChangeRow is a path whose content, type or metadata changed.
type diffChangeRow struct{ Path, What string }

// changeWords says what restic's modifier means.
var changeWords = map[string]string{"M": "content", "T": "type", "U": "metadata", "?": "read back differently"}

// pickSnapshotDiff answers GET /hosts/{id}/snapshots/diff?a=&b= (the
// pickers' form): the diff page of that pair, or the pickers alone.
func (h *handler) pickSnapshotDiff(c *gin.Context) {
	a, b := c.Query("a"), c.Query("b")
	if a != "" && b != "" {
		c.Redirect(http.StatusSeeOther, diffURL(c.Param("id"), a, b))
		return
	}
	h.renderSnapshotDiff(c, "", "")
}

// showSnapshotDiff shows GET /hosts/{id}/snapshots/{snap}/diff/{other}.
func (h *handler) showSnapshotDiff(c *gin.Context) {
	h.renderSnapshotDiff(c, c.Param("snap"), c.Param("other"))
}

func (h *handler) renderSnapshotDiff(c *gin.Context, a, b string) {
	ctx := c.Request.Context()
	hostID := c.Param("id")
	host, err := h.svc.GetHost(ctx, hostID)
	if err != nil {
		h.pageError(c, err)
		return
	}
	p := snapshotDiffPage{page: h.basePage(c, "Compare snapshots · "+host.Name, "fleet"), HostID: hostID, HostName: host.Name,
		A: a, B: b, AShort: shortID(a), BShort: shortID(b)}
	if list, err := h.svc.Snapshots(ctx, hostID); err == nil {
		for _, s := range list.Snapshots {
			p.Options = append(p.Options, diffOption{ID: s.ID, Label: shortID(s.ID) + " · " + s.Time.Format("2006-01-02 15:04")})
		}
	} else {
		h.logIfInternal(c, err)
	}
	if a == "" || b == "" {
		h.render(c, http.StatusOK, "snapshot_diff", p)
		return
	}
	r, err := h.svc.AskAgent(ctx, h.actor(c), hostID, topics.Query{Op: topics.QueryDiff, Snapshot: a, SnapshotTo: b})
	if err != nil {
		h.logIfInternal(c, err)
		p.Failure, p.Offline = server.PublicMessage(err), server.ErrorCodeOf(err) == server.CodeHostOffline
		h.render(c, statusOf(server.ErrorCodeOf(err)), "snapshot_diff", p)
		return
	}
	d := r.Diff
	p.Truncated, p.Stats = d.Truncated, d.Stats
	if d.Stats != nil {
		p.AddedBytes, p.RemovedBytes = humanBytes(uint64(d.Stats.Added.Bytes)), humanBytes(uint64(d.Stats.Removed.Bytes))
	}
	for _, ch := range d.Changes {
		switch ch.Modifier {
		case "+":
			p.Added = append(p.Added, ch.Path)
		case "-":
			p.Removed = append(p.Removed, ch.Path)
		default:
			p.Changed = append(p.Changed, diffChangeRow{Path: ch.Path, What: changeWords[ch.Modifier]})
		}
	}
	h.render(c, http.StatusOK, "snapshot_diff", p)
}

// diffURL is the diff page of a and b.
func diffURL(hostID, a, b string) string {
	return "/hosts/" + url.PathEscape(hostID) + "/snapshots/" + url.PathEscape(a) + "/diff/" + url.PathEscape(b)
}
