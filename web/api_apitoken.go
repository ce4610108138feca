package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// The API tokens API (admins only). The resource is server.APIToken; only
// the answer to a create carries the token itself, once.

// apiListAPITokens returns {"api_tokens": [...]}: the tokens not revoked.
func (h *handler) apiListAPITokens(c *gin.Context) {
	tokens, err := h.svc.ListAPITokens(c.Request.Context())
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"api_tokens": tokens})
}

// apiCreateAPIToken is POST /api/v1/api-tokens {"user", "label"}: 201 and
// the token's listing plus "token".
func (h *handler) apiCreateAPIToken(c *gin.Context) {
	var req struct {
		User  string `json:"user"`
		Label string `json:"label"`
	}
	if err := decodeStrictJSON(c.Request.Body, &req); err != nil {
		h.apiError(c, err)
		return
	}
	if req.User = strings.TrimSpace(req.User); req.User == "" {
		h.apiFail(c, http.StatusBadRequest, server.CodeInvalid, "Send user: the name of the user the token acts as.")
		return
	}
	token, t, err := h.svc.IssueAPIToken(c.Request.Context(), h.actor(c), req.User, strings.TrimSpace(req.Label))
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, struct {
		*server.APIToken
		Token string `json:"token"`
	}{t, token})
}

// apiRevokeAPIToken is DELETE /api/v1/api-tokens/{id}: 204.
func (h *handler) apiRevokeAPIToken(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		h.apiFail(c, http.StatusNotFound, server.CodeNotFound, "There is no such API token; list them with GET /api/v1/api-tokens.")
		return
	}
	if err := h.svc.RevokeAPIToken(c.Request.Context(), h.actor(c), id); err != nil {
		h.apiError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
