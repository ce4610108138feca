package web

import (
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// The JSON API answers with the domain's types (server.SourceGroup,
// server.Schedule, server.ConfigStatus, …): one shape per resource, and a
// PUT takes back what the GET gave (docs/DECISIONS.md, "One shape per
// resource").

// scheduleID is the :sid of a schedule route: its number, or its wire id
// (sch_N).
func scheduleID(c *gin.Context) (int64, bool) {
	s := strings.TrimPrefix(c.Param("sid"), "sch_")
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}

// errNoSchedule answers a :sid that is not a schedule number.
var errNoSchedule = &server.Error{Code: server.CodeNotFound, Message: "No such schedule; list them with GET /api/v1/hosts/{id}/schedules."}

// apiConfigStatus is a host's desired and applied config version and its
// bandwidth caps (0: none).
type apiConfigStatus struct {
	Desired       int64 `json:"desired"`
	Applied       int64 `json:"applied"`
	Pending       bool  `json:"pending"`
	BandwidthUp   int   `json:"bandwidth_up_kbps"`
	BandwidthDown int   `json:"bandwidth_down_kbps"`
}

func newAPIConfigStatus(c server.ConfigStatus) apiConfigStatus {
	return apiConfigStatus{Desired: c.Desired, Applied: c.Applied, Pending: c.Pending,
		BandwidthUp: c.Bandwidth.UpKBps, BandwidthDown: c.Bandwidth.DownKBps}
}
