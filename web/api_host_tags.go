package web

import (
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
)

// hostTagsRequest is the body of PUT /api/v1/hosts/{id}/tags: the host's
// whole tag list (an empty list removes every tag). The domain folds and
// checks each tag (server/fleet_tags.go).
type hostTagsRequest struct {
	Tags *[]string `json:"tags"`
}

func decodeHostTagsRequest(r io.Reader) ([]string, error) {
	var req hostTagsRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Tags == nil {
		return nil, invalid(`Send the host's whole tag list as {"tags": ["site:lyon", "laptop"]} ([] removes every tag).`)
	}
	return *req.Tags, nil
}

// apiSetHostTags replaces a host's tags and answers the host as
// GET /api/v1/hosts/{id} lists it, tags included.
func (h *handler) apiSetHostTags(c *gin.Context) {
	tags, err := decodeHostTagsRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	ctx := c.Request.Context()
	if _, err := h.svc.SetHostTags(ctx, h.actor(c), c.Param("id"), tags); err != nil {
		h.apiError(c, err)
		return
	}
	host, err := h.svc.GetHost(ctx, c.Param("id"))
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, host)
}
