package web

import (
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// pendingRejectRequest is the body of POST /api/v1/pending-hosts/reject:
// the machines to turn away, by ID and/or by the address they announced
// from.
type pendingRejectRequest struct {
	IDs        []int64 `json:"ids"`
	SourceAddr string  `json:"source_addr"`
}

// decodePendingRejectRequest parses and validates an untrusted body; an
// unknown field is refused (a misspelled "source_addr" must not reject
// nothing, or the wrong machines).
func decodePendingRejectRequest(r io.Reader) (pendingRejectRequest, error) {
	var req pendingRejectRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		return req, err
	}
	req.SourceAddr = strings.TrimSpace(req.SourceAddr)
	switch {
	case len(req.IDs) == 0 && req.SourceAddr == "":
		return req, invalid(`Send "ids" (a list of pending host IDs), "source_addr" (the address they announced from), or both.`)
	case len(req.IDs) > server.MaxBulkReject:
		return req, invalid("Send at most 1000 ids at once.")
	}
	for _, id := range req.IDs {
		if id <= 0 {
			return req, invalid(`Every id in "ids" is a pending host's positive ID, as GET /api/v1/pending-hosts lists them.`)
		}
	}
	return req, nil
}

// apiRejectPendingHosts turns many waiting machines away at once: answer
// {rejected: n, ids: [...]} with the IDs that were waiting and are now
// rejected (named machines that no longer wait are skipped).
func (h *handler) apiRejectPendingHosts(c *gin.Context) {
	req, err := decodePendingRejectRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	ids, err := h.svc.RejectPendingHosts(c.Request.Context(), h.actor(c), req.IDs, req.SourceAddr)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"rejected": len(ids), "ids": ids, "state": server.PendingStateRejected})
}
