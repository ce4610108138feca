package web

import (
	"bytes"
	"encoding/json"
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
// and PUT …/source-groups/{group}: the group and, optionally, when it is
// backed up ("schedule": a cron string or a preset object).
type sourceGroupRequest struct {
	server.SourceGroupInput
	Schedule *scheduleField `json:"schedule"`
	hookFields
}

func (r *sourceGroupRequest) validate() error {
	r.Name = strings.TrimSpace(r.Name)
	r.SourceGroupInput.Hooks = r.hookFields.input()
	if err := checkGroup(r.SourceGroupInput); err != nil {
		return err
	}
	if r.Schedule != nil {
		if _, err := r.Schedule.input(topics.JobBackup, r.Name, ""); err != nil {
			return err
		}
	}
	return nil
}

// schedule is the group's backup schedule, if the body has one.
func (r *sourceGroupRequest) schedule() *schedulePreset {
	if r.Schedule == nil {
		return nil
	}
	return &r.Schedule.schedulePreset
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

// scheduleField is the "schedule" of a source group body: a cron string
// ("0 3 * * *", read in UTC) or a preset object
// ({"preset":"daily","time":"03:00","time_zone":"Europe/Berlin",…}).
type scheduleField struct{ schedulePreset }

// UnmarshalJSON implements json.Unmarshaler; the object form is strict too.
func (f *scheduleField) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		f.schedulePreset = schedulePreset{Preset: presetCustom, Cron: s}
		return nil
	}
	if len(b) == 0 || b[0] != '{' {
		return &fieldError{"schedule is a cron string such as \"0 3 * * *\" or an object such as {\"preset\":\"daily\",\"time\":\"03:00\"}."}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f.schedulePreset); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return &fieldError{"Field " + clip(name, 60) + " is not known in schedule; use preset, minute, time, weekday, cron, time_zone, jitter_seconds, catch_up or paused."}
		}
		return &fieldError{"schedule has a field of the wrong type; see /api/v1/openapi.json for its shape."}
	}
	return nil
}

// scheduleRequest is the body of POST /api/v1/hosts/{id}/schedules and
// PUT …/schedules/{sid}: a kind (backup with its source_group; forget,
// prune or check for the whole host) and when, as a preset or a cron.
type scheduleRequest struct {
	Kind           topics.JobKind `json:"kind"`
	SourceGroup    string         `json:"source_group"`
	ReadDataSubset string         `json:"read_data_subset"`
	schedulePreset
}

// input is the domain's form, validated.
func (r *scheduleRequest) input() (server.ScheduleInput, error) {
	return r.schedulePreset.input(r.Kind, strings.TrimSpace(r.SourceGroup), strings.TrimSpace(r.ReadDataSubset))
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

func decodeSourceGroupRequest(r io.Reader) (sourceGroupRequest, error) {
	var req sourceGroupRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		return req, err
	}
	return req, req.validate()
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
