package server

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Fleet actions (#12 point 5): one request acts on many hosts — back up
// now, check, unlock, pause or resume schedules — chosen by hand (host ids)
// or by tag. Each host gets what the single-host path gives it, through the
// same code and the same role rules: its own job (queueJob: a job.create
// audit row, sent now or after the host's next hello, expiring as usual)
// or its schedules paused or resumed (SetSchedulePaused: one
// schedule.pause/resume row per schedule changed). The action itself is
// audited once, as fleet.action, listing every host with its job or why it
// was refused; the job.create rows carry the action's id (fleet_action).

// FleetAction is what a fleet action does on each host.
type FleetAction string

// Fleet actions.
const (
	FleetBackup FleetAction = "backup"
	FleetCheck  FleetAction = "check"
	FleetUnlock FleetAction = "unlock"
	FleetPause  FleetAction = "pause"
	FleetResume FleetAction = "resume"
)

// FleetActions lists the actions in the order the dashboard offers them.
var FleetActions = []FleetAction{FleetBackup, FleetCheck, FleetUnlock, FleetPause, FleetResume}

// JobKind is the job an action queues on each host, "" for pause and resume.
func (f FleetAction) JobKind() topics.JobKind {
	switch f {
	case FleetBackup:
		return topics.JobBackup
	case FleetCheck:
		return topics.JobCheck
	case FleetUnlock:
		return topics.JobUnlock
	}
	return ""
}

// MaxFleetHosts bounds one fleet action's host list.
const MaxFleetHosts = 10000

// FleetActionRequest is one fleet action: what to do and on which hosts:
// HostIDs, every host tagged Tag, or every host Filter chooses (#15: the
// dashboard's "every host matching", the whole filtered set at the time
// of the action, not a page of it). Job carries the options of the
// jobs (backup: paths or a source group by name, excludes, tags; check:
// read data subset; any job: the per-run bandwidth limits and expiry); its
// kind is the action's. Pause and resume take no job options.
type FleetActionRequest struct {
	Action  FleetAction
	HostIDs []string
	Tag     string
	Filter  *HostFilter
	Job     JobRequest
}

// FleetHostResult is what a fleet action did on one host: the job it
// queued (JobID), the schedules it paused or resumed, or why the host was
// refused (Code and Refused, the sentence the single-host path gives).
// Online says whether the host is connected now: an offline host's job
// waits for its next hello.
type FleetHostResult struct {
	HostID    string    `json:"host_id"`
	Name      string    `json:"name"`
	Online    bool      `json:"online"`
	JobID     int64     `json:"job_id,omitempty"`
	Schedules int       `json:"schedules_changed,omitempty"`
	Code      ErrorCode `json:"code,omitempty"`
	Refused   string    `json:"refused,omitempty"`
}

// Done reports whether the host got what the action asked.
func (r FleetHostResult) Done() bool { return r.Refused == "" }

// FleetActionResult is the answer to a fleet action, one entry per host in
// name order. ID names the action in the audit log.
type FleetActionResult struct {
	ID     string            `json:"id"`
	Action FleetAction       `json:"action"`
	Tag    string            `json:"tag,omitempty"`
	Hosts  []FleetHostResult `json:"hosts"`
}

// Counts returns how many hosts got what was asked and how many were refused.
func (r *FleetActionResult) Counts() (done, refused int) {
	for _, h := range r.Hosts {
		if h.Done() {
			done++
		} else {
			refused++
		}
	}
	return done, refused
}

// RunFleetAction does one action on each selected host and says per host
// what happened. A request that is wrong as a whole (unknown action, no
// hosts or both a list and a tag, bad job options, a job the actor's role
// may not run on any host) is refused before anything changes; what is
// wrong for one host (unknown or revoked, no repository, no such source
// group, no schedules) refuses that host only. Needs PermRunJobs, like
// every single-host action it stands for.
func (s *Service) RunFleetAction(ctx context.Context, a Actor, req FleetActionRequest) (*FleetActionResult, error) {
	if err := a.require(PermRunJobs); err != nil {
		return nil, err
	}
	if err := checkFleetRequest(a, &req); err != nil {
		return nil, err
	}
	ids, err := s.fleetHosts(ctx, req)
	if err != nil {
		return nil, err
	}
	res := &FleetActionResult{ID: topics.NewMessageID(), Action: req.Action, Tag: req.Tag, Hosts: make([]FleetHostResult, 0, len(ids))}
	for _, id := range ids {
		res.Hosts = append(res.Hosts, s.fleetActOn(ctx, a, id, req, res.ID))
	}
	slices.SortStableFunc(res.Hosts, func(x, y FleetHostResult) int { return strings.Compare(x.Name, y.Name) })
	if done, _ := res.Counts(); done == 0 {
		return res, nil // nothing changed, nothing to audit
	}
	if err := s.auditFleetAction(ctx, a, req, res); err != nil {
		// The jobs are queued and audited one by one; only the summary row is missing.
		s.log.Error("fleet action: audit", "action", res.ID, "err", err)
	}
	return res, nil
}

// checkFleetRequest refuses a request that is wrong whatever the hosts: it
// normalizes the tag and gives the job its kind.
func checkFleetRequest(a Actor, req *FleetActionRequest) error {
	if !slices.Contains(FleetActions, req.Action) {
		return invalidf("Unknown fleet action %q; use backup, check, unlock, pause or resume.", clipText(string(req.Action)))
	}
	chosen := 0
	for _, given := range []bool{len(req.HostIDs) > 0, req.Tag != "", req.Filter != nil} {
		if given {
			chosen++
		}
	}
	switch {
	case chosen == 0:
		return invalidf("Choose the hosts: tick them, or give a tag.")
	case chosen > 1:
		return invalidf("Give either hosts, a tag or a filter, not several.")
	case len(req.HostIDs) > MaxFleetHosts:
		return invalidf("At most %d hosts per fleet action; split the list.", MaxFleetHosts)
	}
	if req.Tag != "" {
		t, err := NormalizeHostTag(req.Tag)
		if err != nil {
			return err
		}
		req.Tag = t
	}
	if req.Filter != nil {
		if err := req.Filter.Check(); err != nil {
			return err
		}
	}
	kind := req.Action.JobKind()
	if kind == "" {
		if !reflect.ValueOf(req.Job).IsZero() {
			return invalidf("Pausing or resuming schedules takes no job options; leave them out.")
		}
		return nil
	}
	if req.Job.Spec.Kind != "" && req.Job.Spec.Kind != kind {
		return invalidf("The fleet action is %s; leave the job kind out or make it %s.", req.Action, req.Action)
	}
	req.Job.Spec.Kind = kind
	spec := req.Job.Spec
	if strings.TrimSpace(req.Job.SourceGroup) != "" {
		if err := checkGroupRequest(&spec); err != nil {
			return err
		}
	} else if err := spec.Validate(); err != nil {
		return &Error{Code: CodeInvalid, Message: sentence(err.Error())}
	}
	return a.requireJobKind(spec)
}

// fleetHosts resolves the request to host ids, without duplicates. Listed
// ids are kept even when unknown (that host is refused, not the request);
// a tag no active host has is refused.
func (s *Service) fleetHosts(ctx context.Context, req FleetActionRequest) ([]string, error) {
	if req.Filter != nil {
		ids, err := s.HostIDsMatching(ctx, *req.Filter)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, invalidf("No host matches the filter any more; change it and try again.")
		}
		return ids, nil
	}
	if req.Tag != "" {
		ids, err := s.HostIDsTagged(ctx, req.Tag)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, invalidf("No host has the tag %q; tag hosts on their page first.", req.Tag)
		}
		return ids, nil
	}
	ids := make([]string, 0, len(req.HostIDs))
	for _, id := range req.HostIDs {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, invalidf("Choose the hosts: tick them, or give a tag.")
	}
	return ids, nil
}

// fleetActOn does the action on one host through the single-host path.
func (s *Service) fleetActOn(ctx context.Context, a Actor, hostID string, req FleetActionRequest, actionID string) FleetHostResult {
	r := FleetHostResult{HostID: hostID, Name: hostID}
	refuse := func(err error) FleetHostResult {
		if ErrorCodeOf(err) == CodeInternal {
			s.log.Error("fleet action", "action", actionID, "host", hostID, "err", err)
		}
		r.Code, r.Refused = ErrorCodeOf(err), PublicMessage(err)
		return r
	}
	h, err := s.GetHost(ctx, hostID)
	if err != nil {
		return refuse(err)
	}
	r.Name, r.Online = h.Name, h.Online
	if req.Action.JobKind() != "" {
		j, err := s.queueJob(ctx, a, hostID, req.Job, map[string]any{"fleet_action": actionID})
		if err != nil {
			return refuse(err)
		}
		r.JobID = j.ID
		return r
	}
	scheds, err := s.ListSchedules(ctx, hostID)
	if err != nil {
		return refuse(err)
	}
	if len(scheds) == 0 {
		return refuse(invalidf("The host has no schedules to %s.", req.Action))
	}
	paused := req.Action == FleetPause
	for _, sc := range scheds {
		if sc.Paused == paused {
			continue
		}
		if _, err := s.SetSchedulePaused(ctx, a, hostID, sc.ID, paused); err != nil {
			return refuse(err)
		}
		r.Schedules++
	}
	return r
}

// auditFleetAction writes the action's one audit row: the action, how the
// hosts were chosen, the job options that matter, and every host with its
// job or why it was refused.
func (s *Service) auditFleetAction(ctx context.Context, a Actor, req FleetActionRequest, res *FleetActionResult) error {
	hosts := make([]map[string]any, 0, len(res.Hosts))
	for _, h := range res.Hosts {
		e := map[string]any{"host_id": h.HostID, "name": h.Name}
		switch {
		case !h.Done():
			e["refused"] = h.Refused
		case h.JobID != 0:
			e["job"] = h.JobID
		default:
			e["schedules_changed"] = h.Schedules
		}
		hosts = append(hosts, e)
	}
	details := map[string]any{"id": res.ID, "action": req.Action, "hosts": hosts}
	if req.Tag != "" {
		details["tag"] = req.Tag
	}
	if req.Filter != nil {
		details["filter"] = req.Filter
	}
	if g := strings.TrimSpace(req.Job.SourceGroup); g != "" {
		details["source_group"] = g
	}
	if n := len(req.Job.Spec.Paths); n > 0 {
		details["paths"] = req.Job.Spec.Paths
	}
	done, _ := res.Counts()
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		return s.audit(ctx, tx, a, "fleet.action", fmt.Sprintf("%s on %d hosts", req.Action, done), details)
	})
}
