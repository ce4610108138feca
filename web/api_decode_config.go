package web

import (
	"io"
	"strings"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// Bodies of the source group, schedule, bandwidth and retention preview
// routes (#4). Each is decoded strictly (an unknown field is refused) and
// checked with the same rules as the agent's (topics) before the domain is
// called, so bad input changes nothing.

// sourceGroupRequest is the body of POST /api/v1/hosts/{id}/source-groups
// and PUT …/source-groups/{group}: a source group in the shape GET
// answers with (server.SourceGroup), so what a GET gave can be PUT back.
// The read-only fields (id, key, host_id, created_at, updated_at,
// last_backup, has_pre_hook, has_post_hook) are accepted and ignored.
// "schedules", when present, are the group's backup schedules after the
// save (each in the shape of a schedule; one with an id updates it, one
// without is added, the group's others are removed); absent or null
// keeps them.
type sourceGroupRequest struct {
	server.SourceGroup
	Schedules *[]scheduleRequest `json:"schedules"`
	hookFields
}

// save is the domain's form of the body.
func (r *sourceGroupRequest) save() (server.SourceGroupSave, error) {
	in := r.SourceGroupInput
	in.Name = strings.TrimSpace(in.Name)
	in.Hooks = r.hookFields.input()
	if err := checkGroup(in); err != nil {
		return server.SourceGroupSave{}, err
	}
	save := server.SourceGroupSave{SourceGroupInput: in}
	if r.Schedules == nil {
		return save, nil
	}
	save.Schedules = []server.GroupSchedule{}
	for _, e := range *r.Schedules {
		sin, err := e.input()
		if err != nil {
			return save, err
		}
		save.Schedules = append(save.Schedules, server.GroupSchedule{ID: e.ID, ScheduleInput: sin})
	}
	return save, nil
}

// checkGroup validates a group as the agent will read it (a name, absolute
// paths, excludes, tags, retention).
func checkGroup(in server.SourceGroupInput) error {
	g := topics.SourceGroup{ID: "sg_1", Name: in.Name, Paths: in.Paths, Excludes: in.Excludes, ExcludeFiles: in.ExcludeFiles,
		ExcludeCaches: in.ExcludeCaches, OneFileSystem: in.OneFileSystem, Tags: in.Tags, Retention: in.Retention,
		ForgetAfterBackup: in.ForgetAfterBackup, Hooks: in.Hooks.Wire()}
	if err := g.Validate(); err != nil {
		return specInvalid(err)
	}
	return nil
}

// scheduleRequest is the body of POST /api/v1/hosts/{id}/schedules and
// PUT …/schedules/{sid}, and an entry of a source group's "schedules": a
// schedule in the shape GET answers with (server.Schedule), so what a GET
// gave can be PUT back. The read-only fields (id, key, host_id,
// description, next, last, created_at, updated_at) are accepted and
// ignored; source_group names the group by name or id (source_group_id
// when it is absent). Instead of cron, a preset may say when
// (preset, minute, time, weekday: schedule_preset.go); catch_up absent
// is on.
type scheduleRequest struct {
	server.Schedule
	CatchUp *bool  `json:"catch_up"`
	Preset  string `json:"preset"`
	Minute  *int   `json:"minute"`
	Time    string `json:"time"`
	Weekday string `json:"weekday"`
}

// input is the domain's form of the body.
func (r *scheduleRequest) input() (server.ScheduleInput, error) {
	p := schedulePreset{Preset: r.Preset, Minute: r.Minute, Time: r.Time, Weekday: r.Weekday, Cron: r.Cron,
		TimeZone: r.TimeZone, JitterSeconds: r.JitterSeconds, CatchUp: r.CatchUp, Paused: r.Paused}
	group := strings.TrimSpace(r.SourceGroupName)
	if group == "" && r.SourceGroupID > 0 {
		group = itoa(r.SourceGroupID)
	}
	in, err := p.input(r.Kind, group, strings.TrimSpace(r.ReadDataSubset))
	in.DrillFiles, in.DrillMaxMB = r.DrillFiles, r.DrillMaxMB
	return in, err
}

// bandwidthRequest is the body of PUT /api/v1/hosts/{id}/bandwidth; 0 or
// absent means no cap.
type bandwidthRequest struct {
	UpKBps   int `json:"up_kbps"`
	DownKBps int `json:"down_kbps"`
}

func (r *bandwidthRequest) bandwidth() (topics.Bandwidth, error) {
	b := topics.Bandwidth{UpKBps: r.UpKBps, DownKBps: r.DownKBps}
	if err := b.Validate(); err != nil {
		return b, specInvalid(err)
	}
	return b, nil
}

// retentionPreviewRequest is the body of POST …/retention-preview.
type retentionPreviewRequest struct {
	Retention *topics.Retention `json:"retention"`
}

func (r *retentionPreviewRequest) validate() error {
	if r.Retention == nil {
		return invalid("Send retention: the policy to preview, e.g. {\"retention\":{\"daily\":7,\"weekly\":4}}.")
	}
	if err := r.Retention.Validate(); err != nil {
		return specInvalid(err)
	}
	return nil
}

func decodeSourceGroupRequest(r io.Reader) (server.SourceGroupSave, error) {
	var req sourceGroupRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		return server.SourceGroupSave{}, err
	}
	return req.save()
}

func decodeScheduleRequest(r io.Reader) (server.ScheduleInput, error) {
	var req scheduleRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		return server.ScheduleInput{}, err
	}
	return req.input()
}

func decodeBandwidthRequest(r io.Reader) (topics.Bandwidth, error) {
	var req bandwidthRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		return topics.Bandwidth{}, err
	}
	return req.bandwidth()
}

func decodeRetentionPreviewRequest(r io.Reader) (topics.Retention, error) {
	var req retentionPreviewRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		return topics.Retention{}, err
	}
	if err := req.validate(); err != nil {
		return topics.Retention{}, err
	}
	return *req.Retention, nil
}
