package web

import (
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// fleetActionRequest is the body of POST /api/v1/fleet/actions: the action,
// the hosts (ids, every host carrying a tag, or every host a filter of
// GET /api/v1/hosts chooses, on every page) and, for a job action, the
// options POST /api/v1/hosts/{id}/jobs takes (paths or source_group,
// excludes, tags, bandwidth_up_kbps/bandwidth_down_kbps, read_data_subset,
// expires_in), the kind being the action's.
type fleetActionRequest struct {
	Action string             `json:"action"`
	Hosts  []string           `json:"hosts"`
	Tag    string             `json:"tag"`
	Filter *server.HostFilter `json:"filter"`
	jobCreateRequest
}

// decodeFleetActionRequest parses an untrusted body; unknown fields are
// refused. A job action's options are checked like a single host's job;
// the rest (the action, the hosts, the tag) is the domain's to check.
func decodeFleetActionRequest(r io.Reader) (server.FleetActionRequest, error) {
	var req fleetActionRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		return server.FleetActionRequest{}, err
	}
	out := server.FleetActionRequest{Action: server.FleetAction(strings.TrimSpace(req.Action)), HostIDs: req.Hosts, Tag: req.Tag, Filter: req.Filter}
	if kind := out.Action.JobKind(); kind != "" && (req.Kind == "" || req.Kind == kind) {
		req.Kind = kind
		if err := req.validate(); err != nil {
			return out, err
		}
	}
	out.Job = req.request()
	return out, nil
}

// apiRunFleetAction runs one action on many hosts and answers 200 with
// the result per host: the job each got, or why it was refused.
func (h *handler) apiRunFleetAction(c *gin.Context) {
	req, err := decodeFleetActionRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	res, err := h.svc.RunFleetAction(c.Request.Context(), h.actor(c), req)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, res)
}
