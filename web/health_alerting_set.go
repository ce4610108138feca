package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// The host page's Alerting card (#13): the host's own thresholds
// (configure) and, for admins, the fleet's defaults. Thresholds are typed
// in whole hours; an empty host field means the default.

// alertingForm is the card's fields as typed, kept when a save is refused.
type alertingForm struct {
	OverdueHours, OfflineHours           string // the host's own; "" = default
	FleetOverdueHours, FleetOfflineHours string // the fleet's defaults
	FleetOverdueAfter, FleetOfflineAfter int64  // in force, seconds
	Derived                              string // the derived threshold, "30 h", or ""
	// The thresholds in force and the schedules' interval, in words.
	OverdueWords, IntervalWords, OfflineWords string
}

// hoursField shows seconds as whole hours for a form ("" for nil).
func hoursField(secs *int64) string {
	if secs == nil {
		return ""
	}
	return strconv.FormatInt(*secs/3600, 10)
}

// parseHours reads a field of whole hours; "" is nil when optional.
func parseHours(v string, optional bool) (*int64, string) {
	v = strings.TrimSpace(v)
	if v == "" && optional {
		return nil, ""
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 || n > server.MaxAlertSeconds/3600 {
		msg := "A threshold is a whole number of hours between 1 and " + strconv.Itoa(server.MaxAlertSeconds/3600)
		if optional {
			msg += ", or empty for the default"
		}
		return nil, msg + "; fix it and save again."
	}
	secs := n * 3600
	return &secs, ""
}

// setHostAlerting saves the host's own thresholds.
func (h *handler) setHostAlerting(c *gin.Context) {
	hostID := c.Param("id")
	overdue, offline := c.PostForm("overdue_hours"), c.PostForm("offline_hours")
	keep := func(p *hostPage) { p.Alerting.OverdueHours, p.Alerting.OfflineHours = overdue, offline }
	var in server.HostAlerting
	var msg string
	if in.OverdueAfterSeconds, msg = parseHours(overdue, true); msg == "" {
		in.OfflineAlertAfterSeconds, msg = parseHours(offline, true)
	}
	if msg != "" {
		h.hostPageRefused(c, hostID, http.StatusBadRequest, msg, keep)
		return
	}
	if _, err := h.svc.SetHostAlerting(c.Request.Context(), h.actor(c), hostID, in); err != nil {
		status, msg := h.refusal(c, err)
		h.hostPageRefused(c, hostID, status, msg, keep)
		return
	}
	c.Redirect(http.StatusSeeOther, "/hosts/"+url.PathEscape(hostID)+"?saved=1#alerting")
}

// setAlertingSettings saves the fleet's thresholds (admins), from the
// Alerting card of the host page named by the form's host field.
func (h *handler) setAlertingSettings(c *gin.Context) {
	hostID := c.PostForm("host")
	overdue, offline := c.PostForm("fleet_overdue_hours"), c.PostForm("fleet_offline_hours")
	keep := func(p *hostPage) { p.Alerting.FleetOverdueHours, p.Alerting.FleetOfflineHours = overdue, offline }
	o, msg := parseHours(overdue, false)
	var f *int64
	if msg == "" {
		f, msg = parseHours(offline, false)
	}
	if msg == "" {
		_, err := h.svc.SetAlertingSettings(c.Request.Context(), h.actor(c),
			server.AlertingSettings{OverdueAfterSeconds: *o, OfflineAlertAfterSeconds: *f})
		if err == nil {
			c.Redirect(http.StatusSeeOther, "/hosts/"+url.PathEscape(hostID)+"?saved=1#alerting")
			return
		}
		var status int
		status, msg = h.refusal(c, err)
		h.hostPageRefused(c, hostID, status, msg, keep)
		return
	}
	h.hostPageRefused(c, hostID, http.StatusBadRequest, msg, keep)
}

// newAlertingForm fills the card from the host's health and the fleet's
// settings.
func newAlertingForm(host server.Host, g server.AlertingSettings) alertingForm {
	f := alertingForm{OverdueHours: hoursField(host.Alerting.OverdueAfterSeconds), OfflineHours: hoursField(host.Alerting.OfflineAlertAfterSeconds),
		FleetOverdueHours: hoursField(&g.OverdueAfterSeconds), FleetOfflineHours: hoursField(&g.OfflineAlertAfterSeconds),
		FleetOverdueAfter: g.OverdueAfterSeconds, FleetOfflineAfter: g.OfflineAlertAfterSeconds}
	if host.ExpectedIntervalSeconds != nil {
		f.IntervalWords = durationWords(*host.ExpectedIntervalSeconds)
		if host.Alerting.OverdueAfterSeconds == nil {
			f.Derived = durationWords(host.OverdueAfterSeconds)
		}
	}
	f.OverdueWords, f.OfflineWords = durationWords(host.OverdueAfterSeconds), durationWords(host.OfflineAlertAfterSeconds)
	return f
}

// durationWords says a threshold the way the card does: "30 h", "7 days".
func durationWords(secs int64) string {
	switch {
	case secs%86400 == 0 && secs >= 2*86400:
		return strconv.FormatInt(secs/86400, 10) + " days"
	case secs%3600 == 0:
		return strconv.FormatInt(secs/3600, 10) + " h"
	default:
		return strconv.FormatInt(secs/60, 10) + " min"
	}
}
