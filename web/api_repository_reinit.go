package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// reinitRequest is the body of POST /api/v1/hosts/{id}/repository/reinit:
// the host's name again, as the dashboard asks for it typed out.
type reinitRequest struct {
	Confirm string `json:"confirm"`
}

// apiReinitRepository queues a fresh init job for the host's repository
// (it never wipes anything). Answer: 201 {id, ...job}.
func (h *handler) apiReinitRepository(c *gin.Context) {
	var req reinitRequest
	if err := decodeStrictJSON(c.Request.Body, &req); err != nil {
		h.apiError(c, err)
		return
	}
	job, err := h.svc.ReinitRepository(c.Request.Context(), h.actor(c), c.Param("id"), req.Confirm)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, job)
}
