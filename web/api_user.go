package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// The users API (admins only): the resource is server.Account, the same
// shape for the list, one user and every change's answer.

// apiUserID reads :id; a bad one is answered with 404 and ok is false.
func (h *handler) apiUserID(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		h.apiFail(c, http.StatusNotFound, server.CodeNotFound, "There is no such user; list them with GET /api/v1/users.")
		return 0, false
	}
	return id, true
}

// apiListUsers returns {"users": [...]}, disabled users too, by name.
func (h *handler) apiListUsers(c *gin.Context) {
	users, err := h.svc.ListAccounts(c.Request.Context())
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"users": users})
}

// apiShowUser returns one user.
func (h *handler) apiShowUser(c *gin.Context) {
	id, ok := h.apiUserID(c)
	if !ok {
		return
	}
	acc, err := h.svc.Account(c.Request.Context(), id)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, acc)
}

// apiUserCreateRequest is the body of POST /api/v1/users.
type apiUserCreateRequest struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

// apiCreateUser adds a user: 201 and the user.
func (h *handler) apiCreateUser(c *gin.Context) {
	var req apiUserCreateRequest
	if err := decodeStrictJSON(c.Request.Body, &req); err != nil {
		h.apiError(c, err)
		return
	}
	role, err := server.ParseRole(req.Role)
	if err != nil {
		h.apiError(c, err)
		return
	}
	u, err := h.svc.CreateUser(c.Request.Context(), h.actor(c), req.Name, role, req.Password)
	if err != nil {
		h.apiError(c, err)
		return
	}
	h.apiRespondUser(c, http.StatusCreated, u.ID)
}

// apiUserUpdateRequest is the body of PUT /api/v1/users/{id}: the fields
// to change, each optional.
// A body is the user in the shape GET answers with (server.Account), so
// what a GET gave can be PUT back: the read-only fields (id, name,
// created_at, disabled_at, totp_enabled_at, totp) are accepted and
// ignored.
type apiUserUpdateRequest struct {
	server.Account
	Role     *string `json:"role"`
	Disabled *bool   `json:"disabled"`
}

// apiUpdateUser changes a user's role and/or disables or enables them; a
// field that says what the user already is changes nothing (no audit
// row).
func (h *handler) apiUpdateUser(c *gin.Context) {
	id, ok := h.apiUserID(c)
	if !ok {
		return
	}
	var req apiUserUpdateRequest
	if err := decodeStrictJSON(c.Request.Body, &req); err != nil {
		h.apiError(c, err)
		return
	}
	if req.Role == nil && req.Disabled == nil {
		h.apiFail(c, http.StatusBadRequest, server.CodeInvalid, `Send what to change: {"role": "viewer"} and/or {"disabled": true}.`)
		return
	}
	ctx, a := c.Request.Context(), h.actor(c)
	cur, err := h.svc.Account(ctx, id)
	if err != nil {
		h.apiError(c, err)
		return
	}
	if req.Role != nil {
		role, err := server.ParseRole(*req.Role)
		if err == nil && role != cur.Role {
			_, err = h.svc.SetUserRole(ctx, a, id, role)
		}
		if err != nil {
			h.apiError(c, err)
			return
		}
	}
	if req.Disabled != nil && *req.Disabled != cur.Disabled {
		var err error
		if *req.Disabled {
			_, err = h.svc.DisableUser(ctx, a, id)
		} else {
			_, err = h.svc.EnableUser(ctx, a, id)
		}
		if err != nil {
			h.apiError(c, err)
			return
		}
	}
	h.apiRespondUser(c, http.StatusOK, id)
}

// apiDeleteUser removes a user: 204.
func (h *handler) apiDeleteUser(c *gin.Context) {
	id, ok := h.apiUserID(c)
	if !ok {
		return
	}
	if _, err := h.svc.DeleteUser(c.Request.Context(), h.actor(c), id); err != nil {
		h.apiError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// apiResetUserPassword is POST /api/v1/users/{id}/password {"password"}: 204;
// the user's sessions end.
func (h *handler) apiResetUserPassword(c *gin.Context) {
	id, ok := h.apiUserID(c)
	if !ok {
		return
	}
	var req struct {
		Password string `json:"password"`
	}
	if err := decodeStrictJSON(c.Request.Body, &req); err != nil {
		h.apiError(c, err)
		return
	}
	if _, err := h.svc.ResetPassword(c.Request.Context(), h.actor(c), id, req.Password); err != nil {
		h.apiError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// apiResetUserTOTP is DELETE /api/v1/users/{id}/totp: the user's second
// factor is off; answers the user.
func (h *handler) apiResetUserTOTP(c *gin.Context) {
	id, ok := h.apiUserID(c)
	if !ok {
		return
	}
	if _, err := h.svc.ResetTOTP(c.Request.Context(), h.actor(c), id); err != nil {
		h.apiError(c, err)
		return
	}
	h.apiRespondUser(c, http.StatusOK, id)
}

// apiRespondUser answers a change with the user as it is now.
func (h *handler) apiRespondUser(c *gin.Context, status int, id int64) {
	acc, err := h.svc.Account(c.Request.Context(), id)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(status, acc)
}
