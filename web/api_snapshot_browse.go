package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// Browsing a host's snapshots (#14): each request asks the host's agent
// (server.AskAgent) and answers with what it said — a page of a folder, the
// matches of a search, the changes between two snapshots — as topics
// declares them (one shape, the wire's). An offline host is 503
// host_offline at once; no answer in time is 504 agent_timeout.

// treeQuery is the ls query a tree request asks: ?path= (default /) and
// ?page= (default 0; topics checks the range).
func treeQuery(c *gin.Context) (topics.Query, error) {
	q := topics.Query{Op: topics.QueryLs, Snapshot: c.Param("snap"), Path: c.DefaultQuery("path", "/")}
	if p := c.Query("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return q, &server.Error{Code: server.CodeInvalid, Message: "The page must be a whole number, from 0."}
		}
		q.Page = n
	}
	return q, nil
}

// apiSnapshotTree answers GET /api/v1/hosts/{id}/snapshots/{snap}/tree.
func (h *handler) apiSnapshotTree(c *gin.Context) {
	q, err := treeQuery(c)
	if err != nil {
		h.apiError(c, err)
		return
	}
	r, err := h.svc.AskAgent(c.Request.Context(), h.actor(c), c.Param("id"), q)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, r.Tree)
}

// apiSnapshotFind answers GET /api/v1/hosts/{id}/snapshots/find?pattern=.
func (h *handler) apiSnapshotFind(c *gin.Context) {
	r, err := h.svc.AskAgent(c.Request.Context(), h.actor(c), c.Param("id"), topics.Query{Op: topics.QueryFind, Pattern: c.Query("pattern")})
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, r.Find)
}

// apiSnapshotDiff answers GET /api/v1/hosts/{id}/snapshots/{snap}/diff/{other}.
func (h *handler) apiSnapshotDiff(c *gin.Context) {
	r, err := h.svc.AskAgent(c.Request.Context(), h.actor(c), c.Param("id"),
		topics.Query{Op: topics.QueryDiff, Snapshot: c.Param("snap"), SnapshotTo: c.Param("other")})
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, r.Diff)
}
