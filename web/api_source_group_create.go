package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// apiCreateSourceGroup creates a source group (body: the group and an
// optional "schedule", a cron string or a preset object, that becomes its
// backup schedule); answer 201 with the group as stored. Bad input is
// refused with one sentence and nothing is stored.
func (h *handler) apiCreateSourceGroup(c *gin.Context) {
	req, err := decodeSourceGroupRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	hostID := c.Param("id")
	g, err := h.storeNewSourceGroup(c.Request.Context(), h.actor(c), hostID, req.SourceGroupInput, req.schedule())
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Location", "/api/v1/hosts/"+hostID+"/source-groups/"+strconv.FormatInt(g.ID, 10))
	h.sendSourceGroup(c, http.StatusCreated, *g)
}

// storeNewSourceGroup stores a group and, when given, its backup schedule
// (checked before the group is stored). Should the domain still refuse
// the schedule, the group is removed again, so a refused request leaves
// nothing behind.
func (h *handler) storeNewSourceGroup(ctx context.Context, a server.Actor, hostID string, in server.SourceGroupInput, sched *schedulePreset) (*server.SourceGroup, error) {
	var sin server.ScheduleInput
	if sched != nil {
		var err error
		if sin, err = sched.input(topics.JobBackup, in.Name, ""); err != nil {
			return nil, err
		}
	}
	g, err := h.svc.CreateSourceGroup(ctx, a, hostID, in)
	if err != nil || sched == nil {
		return g, err
	}
	sin.SourceGroup = strconv.FormatInt(g.ID, 10)
	if _, err := h.svc.CreateSchedule(ctx, a, hostID, sin); err != nil {
		if derr := h.svc.DeleteSourceGroup(context.WithoutCancel(ctx), a, hostID, sin.SourceGroup); derr != nil {
			h.log.Error("undo source group after a refused schedule", "host", hostID, "group", g.ID, "err", derr)
		}
		return nil, err
	}
	return h.svc.GetSourceGroup(ctx, hostID, sin.SourceGroup)
}
