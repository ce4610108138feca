package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// notificationsPage is the data of the notifications page (admins): the
// channels, the hosts with their mute and check slug, recent deliveries.
type notificationsPage struct {
	page
	Channels   []server.NotificationChannel
	Deliveries []server.NotificationDelivery
	Hosts      []notifyHostRow
	Events     []string
	Form       channelForm
}

// notifyHostRow is one host in the page's hosts table.
type notifyHostRow struct {
	ID, Name string
	Tags     []string
	server.HostNotifySettings
}

var notificationsNotices = map[string]string{
	"created": "Channel added. Press Test to send it a message now.",
	"test":    "Test message queued; it is listed under Recent deliveries.",
	"deleted": "Channel deleted with its deliveries.",
	"edited":  "Channel saved.",
	"host":    "Host notification settings saved.",
}

// showNotifications renders the notifications page.
func (h *handler) showNotifications(c *gin.Context) {
	p, err := h.newNotificationsPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	if n, ok := notificationsNotices[c.Query("done")]; ok {
		p.Notice = n
	}
	h.render(c, http.StatusOK, "notifications", p)
}

func (h *handler) newNotificationsPage(c *gin.Context) (notificationsPage, error) {
	ctx, a := c.Request.Context(), h.actor(c)
	chans, err := h.svc.ListNotificationChannels(ctx, a)
	if err != nil {
		return notificationsPage{}, err
	}
	deliveries, err := h.svc.ListNotificationDeliveries(ctx, a, server.DeliveryFilter{Limit: 50})
	if err != nil {
		return notificationsPage{}, err
	}
	hosts, err := h.svc.ListHosts(ctx)
	if err != nil {
		return notificationsPage{}, err
	}
	settings, err := h.svc.ListHostNotifySettings(ctx, a)
	if err != nil {
		return notificationsPage{}, err
	}
	p := notificationsPage{page: h.basePage(c, "Notifications", "notifications"), Channels: chans, Deliveries: deliveries,
		Events: server.NotifyEvents, Form: channelForm{Kind: server.ChannelWebhook, Events: []string{server.NotifyJobFailed}}}
	for _, host := range hosts {
		p.Hosts = append(p.Hosts, notifyHostRow{ID: host.ID, Name: host.Name, Tags: host.Tags, HostNotifySettings: settings[host.ID]})
	}
	return p, nil
}

// createNotificationChannel adds a channel from the page's form.
func (h *handler) createNotificationChannel(c *gin.Context) {
	form := newChannelForm(c)
	ch, msg := form.channel()
	if msg == "" {
		if _, err := h.svc.CreateNotificationChannel(c.Request.Context(), h.actor(c), ch); err != nil {
			h.logIfInternal(c, err)
			h.notificationsRetry(c, form, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err))
			return
		}
		c.Redirect(http.StatusSeeOther, "/admin/notifications?done=created")
		return
	}
	h.notificationsRetry(c, form, http.StatusBadRequest, msg)
}

// notificationsRetry shows the page again with the form as sent (without
// its URL and secret: they are never echoed) and one sentence.
func (h *handler) notificationsRetry(c *gin.Context, form channelForm, status int, message string) {
	p, err := h.newNotificationsPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	form.URL, form.Secret = "", ""
	p.Form, p.Error = form, message
	h.render(c, status, "notifications", p)
}

// channelAction runs one action on the channel :cid from the page and
// redirects with done, or shows the page with the refusal.
func (h *handler) channelAction(c *gin.Context, done string, act func(id int64) error) {
	id, err := strconv.ParseInt(c.Param("cid"), 10, 64)
	if err != nil || id < 1 {
		h.pageFail(c, http.StatusNotFound, "There is no such notification channel; pick one from the list.")
		return
	}
	if err := act(id); err != nil {
		h.logIfInternal(c, err)
		h.notificationsRetry(c, channelForm{}, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err))
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/notifications?done="+done)
}

// sendTestNotification queues a test message on a channel.
func (h *handler) sendTestNotification(c *gin.Context) {
	h.channelAction(c, "test", func(id int64) error {
		_, err := h.svc.TestNotificationChannel(c.Request.Context(), h.actor(c), id)
		return err
	})
}

// deleteNotificationChannel removes a channel.
func (h *handler) deleteNotificationChannel(c *gin.Context) {
	h.channelAction(c, "deleted", func(id int64) error {
		return h.svc.DeleteNotificationChannel(c.Request.Context(), h.actor(c), id)
	})
}

// editNotificationChannel replaces a channel's settings from its edit
// form through the domain's update (the API's PUT): an empty URL or secret
// keeps the sealed one.
func (h *handler) editNotificationChannel(c *gin.Context) {
	form := newChannelForm(c)
	h.channelAction(c, "edited", func(id int64) error {
		ch, msg := form.channel()
		if msg != "" {
			return invalid(msg)
		}
		ch.Enabled = c.PostForm("enabled") == "on"
		_, err := h.svc.UpdateNotificationChannel(c.Request.Context(), h.actor(c), id, ch)
		return err
	})
}

// Edit is channel ch as its edit form shows it (never its URL or secret).
func (notificationsPage) Edit(ch server.NotificationChannel) channelForm {
	f := channelForm{Name: ch.Name, Kind: ch.Kind, Events: ch.Events, Tags: strings.Join(ch.Tags, " ")}
	if ch.ThrottleMinutes != 0 {
		f.Throttle = strconv.Itoa(ch.ThrottleMinutes)
	}
	if ch.DigestHour != nil {
		f.Digest = strconv.Itoa(*ch.DigestHour)
	}
	return f
}

// setHostNotifications mutes or unmutes a host and sets its check slug.
func (h *handler) setHostNotifications(c *gin.Context) {
	in := server.HostNotifySettings{Muted: c.PostForm("muted") == "on", CheckSlug: c.PostForm("check_slug")}
	if _, err := h.svc.SetHostNotifySettings(c.Request.Context(), h.actor(c), c.Param("id"), in); err != nil {
		h.logIfInternal(c, err)
		h.notificationsRetry(c, channelForm{}, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err))
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/notifications?done=host")
}
