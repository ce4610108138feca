package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// apiUpdateSourceGroup replaces a source group (PUT, the same body as
// create); a "schedule" replaces its backup schedule (or adds one), and
// without one its schedules stay as they are.
func (h *handler) apiUpdateSourceGroup(c *gin.Context) {
	req, err := decodeSourceGroupRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	g, err := h.storeSourceGroup(c.Request.Context(), h.actor(c), c.Param("id"), c.Param("group"), req.SourceGroupInput, req.schedule())
	if err != nil {
		h.apiError(c, err)
		return
	}
	h.sendSourceGroup(c, http.StatusOK, *g)
}

// storeSourceGroup stores a group's new settings and, when given, its
// backup schedule: the first one it has is updated, else one is created.
func (h *handler) storeSourceGroup(ctx context.Context, a server.Actor, hostID, ref string, in server.SourceGroupInput, sched *schedulePreset) (*server.SourceGroup, error) {
	var sin server.ScheduleInput
	if sched != nil {
		var err error
		if sin, err = sched.input(topics.JobBackup, in.Name, ""); err != nil {
			return nil, err
		}
		if _, err := h.svc.GetSourceGroup(ctx, hostID, ref); err != nil {
			return nil, err // a missing group is not half-updated below
		}
	}
	g, err := h.svc.UpdateSourceGroup(ctx, a, hostID, ref, in)
	if err != nil || sched == nil {
		return g, err
	}
	id := strconv.FormatInt(g.ID, 10)
	sin.SourceGroup = id
	if len(g.Schedules) > 0 {
		if sameSchedule(g.Schedules[0], sin) {
			return g, nil // nothing to change, nothing to audit
		}
		_, err = h.svc.UpdateSchedule(ctx, a, hostID, g.Schedules[0].ID, sin)
	} else {
		_, err = h.svc.CreateSchedule(ctx, a, hostID, sin)
	}
	if err != nil {
		return nil, err
	}
	return h.svc.GetSourceGroup(ctx, hostID, id)
}

// sameSchedule reports whether saving in would change nothing in s.
func sameSchedule(s server.Schedule, in server.ScheduleInput) bool {
	catchUp := in.CatchUp == nil || *in.CatchUp
	return s.Kind == in.Kind && s.Cron == in.Cron && zoneOrUTC(s.TimeZone) == zoneOrUTC(in.TimeZone) && s.CatchUp == catchUp &&
		s.JitterSeconds == in.JitterSeconds && s.ReadDataSubset == in.ReadDataSubset && s.Paused == in.Paused
}
