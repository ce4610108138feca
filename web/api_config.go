package web

import (
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// JSON shapes of source groups, schedules and config status (#4), their own
// types so that the API contract does not change when the domain's do.
// Times are UTC; lists are never null.

// apiJobBrief is a job in one line: {id, status, at}.
type apiJobBrief struct {
	ID     int64           `json:"id"`
	Status topics.JobState `json:"status"`
	At     time.Time       `json:"at"`
}

func newAPIJobBrief(b *server.JobBrief) *apiJobBrief {
	if b == nil {
		return nil
	}
	return &apiJobBrief{ID: b.ID, Status: b.Status, At: b.At.UTC()}
}

// apiSchedule is one schedule, with its next run (null while paused) and
// its last job, and when it runs in words.
type apiSchedule struct {
	ID              int64          `json:"id"`
	Key             string         `json:"key"`
	HostID          string         `json:"host_id"`
	Kind            topics.JobKind `json:"kind"`
	SourceGroupID   int64          `json:"source_group_id,omitempty"`
	SourceGroupName string         `json:"source_group,omitempty"`
	Cron            string         `json:"cron"`
	TimeZone        string         `json:"time_zone"`
	Description     string         `json:"description"`
	CatchUp         bool           `json:"catch_up"`
	JitterSeconds   int            `json:"jitter_seconds"`
	ReadDataSubset  string         `json:"read_data_subset,omitempty"`
	Paused          bool           `json:"paused"`
	Next            *time.Time     `json:"next"`
	Last            *apiJobBrief   `json:"last"`
	CreatedAt       time.Time      `json:"created_at"`
	UpdatedAt       time.Time      `json:"updated_at"`
}

func newAPISchedule(s server.Schedule) apiSchedule {
	return apiSchedule{
		ID: s.ID, Key: s.Key, HostID: s.HostID, Kind: s.Kind, SourceGroupID: s.SourceGroupID, SourceGroupName: s.SourceGroupName,
		Cron: s.Cron, TimeZone: zoneOrUTC(s.TimeZone), Description: scheduleWords(s.Cron, s.TimeZone), CatchUp: s.CatchUp,
		JitterSeconds: s.JitterSeconds, ReadDataSubset: s.ReadDataSubset, Paused: s.Paused, Next: utcPtr(s.Next),
		Last: newAPIJobBrief(s.Last), CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC(),
	}
}

func newAPISchedules(list []server.Schedule) []apiSchedule {
	out := make([]apiSchedule, len(list))
	for i, s := range list {
		out[i] = newAPISchedule(s)
	}
	return out
}

// apiSourceGroup is one source group with its backup schedules and last
// backup.
type apiSourceGroup struct {
	ID                int64             `json:"id"`
	Key               string            `json:"key"`
	HostID            string            `json:"host_id"`
	Name              string            `json:"name"`
	Paths             []string          `json:"paths"`
	Excludes          []string          `json:"excludes"`
	ExcludeFiles      []string          `json:"exclude_files"`
	ExcludeCaches     bool              `json:"exclude_caches"`
	OneFileSystem     bool              `json:"one_file_system"`
	Tags              []string          `json:"tags"`
	Retention         *topics.Retention `json:"retention"`
	ForgetAfterBackup bool              `json:"forget_after_backup"`
	Schedules         []apiSchedule     `json:"schedules"`
	LastBackup        *apiJobBrief      `json:"last_backup"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
	// #10: has_pre_hook, has_post_hook, hook_timeout_seconds; and for
	// admins the bodies, pre_hook and post_hook (withHookBodies).
	server.HookSet
}

func newAPISourceGroup(g server.SourceGroup) apiSourceGroup {
	return apiSourceGroup{
		ID: g.ID, Key: g.Key, HostID: g.HostID, Name: g.Name, Paths: orEmpty(g.Paths), Excludes: orEmpty(g.Excludes),
		ExcludeFiles: orEmpty(g.ExcludeFiles), ExcludeCaches: g.ExcludeCaches, OneFileSystem: g.OneFileSystem,
		Tags: orEmpty(g.Tags), Retention: g.Retention, ForgetAfterBackup: g.ForgetAfterBackup,
		Schedules: newAPISchedules(g.Schedules), LastBackup: newAPIJobBrief(g.LastBackup),
		CreatedAt: g.CreatedAt.UTC(), UpdatedAt: g.UpdatedAt.UTC(), HookSet: server.HookSet{HookStatus: g.HookStatus},
	}
}

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

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func zoneOrUTC(z string) string {
	if z == "" {
		return "UTC"
	}
	return z
}

// scheduleID is the :sid of a schedule route: its number, or its wire id
// (sch_N).
func scheduleID(c *gin.Context) (int64, bool) {
	s := strings.TrimPrefix(c.Param("sid"), "sch_")
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}

// errNoSchedule answers a :sid that is not a schedule number.
var errNoSchedule = &server.Error{Code: server.CodeNotFound, Message: "No such schedule; list them with GET /api/v1/hosts/{id}/schedules."}
