package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// The notifications API (#13, admins only). The resource is
// server.NotificationChannel: the list, one channel and every change's
// answer have that one shape, and POST and PUT take it back (the URL shows
// only scheme and host; sending it back keeps the stored one; the secret
// is write-only). Deliveries are server.NotificationDelivery.

// apiChannelID reads :cid; a bad one is answered with 404 and ok is false.
func (h *handler) apiChannelID(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("cid"), 10, 64)
	if err != nil || id < 1 {
		h.apiFail(c, http.StatusNotFound, server.CodeNotFound, "There is no such notification channel; list them with GET /api/v1/notification-channels.")
		return 0, false
	}
	return id, true
}

// decodeChannel reads a channel body; "enabled" defaults to true.
func decodeChannel(c *gin.Context) (server.NotificationChannel, error) {
	in := server.NotificationChannel{Enabled: true}
	err := decodeStrictJSON(c.Request.Body, &in)
	return in, err
}

// apiListNotificationChannels returns {"channels": [...]} by name.
func (h *handler) apiListNotificationChannels(c *gin.Context) {
	list, err := h.svc.ListNotificationChannels(c.Request.Context(), h.actor(c))
	if err != nil {
		h.apiError(c, err)
		return
	}
	if list == nil {
		list = []server.NotificationChannel{}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"channels": list})
}

// apiShowNotificationChannel returns one channel.
func (h *handler) apiShowNotificationChannel(c *gin.Context) {
	id, ok := h.apiChannelID(c)
	if !ok {
		return
	}
	ch, err := h.svc.GetNotificationChannel(c.Request.Context(), h.actor(c), id)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, ch)
}

// apiCreateNotificationChannel adds a channel: 201 and the channel.
func (h *handler) apiCreateNotificationChannel(c *gin.Context) {
	in, err := decodeChannel(c)
	if err != nil {
		h.apiError(c, err)
		return
	}
	ch, err := h.svc.CreateNotificationChannel(c.Request.Context(), h.actor(c), in)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, ch)
}

// apiUpdateNotificationChannel replaces a channel's settings.
func (h *handler) apiUpdateNotificationChannel(c *gin.Context) {
	id, ok := h.apiChannelID(c)
	if !ok {
		return
	}
	in, err := decodeChannel(c)
	if err != nil {
		h.apiError(c, err)
		return
	}
	ch, err := h.svc.UpdateNotificationChannel(c.Request.Context(), h.actor(c), id, in)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, ch)
}

// apiDeleteNotificationChannel removes a channel and its deliveries: 204.
func (h *handler) apiDeleteNotificationChannel(c *gin.Context) {
	id, ok := h.apiChannelID(c)
	if !ok {
		return
	}
	if err := h.svc.DeleteNotificationChannel(c.Request.Context(), h.actor(c), id); err != nil {
		h.apiError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// apiTestNotificationChannel queues a test message: 202 and its delivery.
func (h *handler) apiTestNotificationChannel(c *gin.Context) {
	id, ok := h.apiChannelID(c)
	if !ok {
		return
	}
	d, err := h.svc.TestNotificationChannel(c.Request.Context(), h.actor(c), id)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusAccepted, d)
}

// apiListNotificationDeliveries returns {"deliveries": [...]}, newest
// first; ?channel=, ?state= and ?limit= narrow it.
func (h *handler) apiListNotificationDeliveries(c *gin.Context) {
	f := server.DeliveryFilter{State: c.Query("state")}
	if v := c.Query("channel"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			h.apiError(c, invalid("channel is a channel's id (a positive number)."))
			return
		}
		f.ChannelID = n
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			h.apiError(c, invalid("limit is a positive number (at most 1000)."))
			return
		}
		f.Limit = n
	}
	list, err := h.svc.ListNotificationDeliveries(c.Request.Context(), h.actor(c), f)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"deliveries": list})
}

// apiShowHostNotifications returns a host's notification settings.
func (h *handler) apiShowHostNotifications(c *gin.Context) {
	set, err := h.svc.HostNotifySettings(c.Request.Context(), h.actor(c), c.Param("id"))
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, set)
}

// apiSetHostNotifications mutes or unmutes a host and sets its check slug.
func (h *handler) apiSetHostNotifications(c *gin.Context) {
	var in server.HostNotifySettings
	if err := decodeStrictJSON(c.Request.Body, &in); err != nil {
		h.apiError(c, err)
		return
	}
	set, err := h.svc.SetHostNotifySettings(c.Request.Context(), h.actor(c), c.Param("id"), in)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, set)
}
