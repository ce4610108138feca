package topics

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// The job protocol (#3, DESIGN §3 "Jobs" and "Nothing lost, nothing run
// twice"). In short:
//
//   - The server stores a job (queued, version 1) and sends a Command
//     {action run, job, version, expires_at, config_version, spec} on
//     down/cmd while the host is online, and again after every hello until
//     the agent reports a state for it.
//   - The agent journals the job id before anything else; a job id it has
//     seen is never run again (a duplicate run is answered by re-sending the
//     recorded terminal event). It then reports each transition as a
//     JobEvent with the next version (delivered, running, then one terminal
//     state), log lines as JobLog batches and progress as JobProgress.
//   - Every event, log batch and snapshot report goes through the agent's
//     fsync'd outbox first. Its outbox sequence number travels in the
//     message (Seq); the server stores the message (or decides for good
//     not to) and then names Seq in a down/ack, and only then does the
//     agent drop the entry. Everything unacknowledged is resent after each
//     hello and periodically while connected, so the server dedups: events
//     by (job, version), log lines by (job, line number), snapshot reports
//     by (report, part).
//   - The server refuses a stale or backwards version and never changes a
//     terminal state; a refused message is still acknowledged (it will
//     never become acceptable) and counted.

// Message types of the job protocol.
const (
	TypeCmd         = "cmd"
	TypeConfig      = "config"
	TypeAck         = "ack"
	TypeJobEvent    = "job.event"
	TypeJobLog      = "job.log"
	TypeJobProgress = "job.progress"
	TypeSnapshots   = "snapshots"
)

// JobIDPrefix starts every job id on the wire; the server shows jobs by a
// short number too, but the wire id is random so that a restored or
// replaced server database can never make an agent's journal answer a new
// job with an old one's outcome.
const JobIDPrefix = "j_"

// ValidJobID reports whether s is a well-formed job id (prefix j_).
func ValidJobID(s string) bool { return strings.HasPrefix(s, JobIDPrefix) && ValidID(s) }

// Command actions.
const (
	CmdRun    = "run"    // run Job with Spec unless it was seen before or expired
	CmdCancel = "cancel" // stop Job gracefully (canceled); a job not yet started never starts
)

// Command is sent by the server on rm/v1/hosts/{h}/down/cmd (QoS 1). The
// envelope id is the command id; resends of one command keep it.
type Command struct {
	Envelope
	Action string `json:"action"`
	Job    string `json:"job"`
	// Version is the job's version at the server when the command was
	// built (1 for a queued job); the agent's first event carries the next.
	Version int64 `json:"version,omitempty"`
	// ExpiresAt: a run command received after it is answered "expired" and
	// never runs.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// ConfigVersion is the config the job needs (e.g. the repository an
	// init is for). An agent whose applied config is older waits for it.
	ConfigVersion int64    `json:"config_version,omitempty"`
	Spec          *JobSpec `json:"spec,omitempty"`
	// SourceRepository (#14) is the repository a cross-host restore reads:
	// the source host's, built by the server from its sealed copy each time
	// the command is sent. The agent uses it for this one job and never
	// stores it (not in its config, journal, outbox or logs).
	SourceRepository *RepositoryConfig `json:"source_repository,omitempty"`
}

// Validate checks the header and the body of a command.
func (m *Command) Validate() error {
	if err := m.Envelope.Validate(TypeCmd); err != nil {
		return err
	}
	if !ValidJobID(m.Job) {
		return fmt.Errorf("invalid job id %q", clip(m.Job))
	}
	switch m.Action {
	case CmdRun:
		if m.Version < 1 {
			return errors.New("run command without the job's version")
		}
		if m.ExpiresAt.IsZero() {
			return errors.New("run command without expires_at")
		}
		if m.ConfigVersion < 0 {
			return errors.New("negative config_version")
		}
		if m.Spec == nil {
			return errors.New("run command without a job spec")
		}
		if err := m.Spec.Validate(); err != nil {
			return err
		}
		return checkSourceRepository(m)
	case CmdCancel:
		if m.Spec != nil || m.SourceRepository != nil {
			return errors.New("cancel command with a job spec")
		}
		return nil
	}
	return fmt.Errorf("unknown command action %q", clip(m.Action))
}

// Config is the desired configuration of a host, sent on
// rm/v1/hosts/{h}/down/config (QoS 1) whenever it changes and after a hello
// that reports an older applied version. Version grows by one with every
// change; the agent applies only a newer one, stores it (0600) and reports
// the applied version in hello and status. It carries secrets (the
// repository): it travels only in the host's own TLS session.
type Config struct {
	Envelope
	Version    int64             `json:"version"`
	Repository *RepositoryConfig `json:"repository,omitempty"`
	// #4: what to back up, when, and how fast.
	SourceGroups []SourceGroup `json:"source_groups,omitempty"`
	Schedules    []Schedule    `json:"schedules,omitempty"`
	Bandwidth    *Bandwidth    `json:"bandwidth,omitempty"`
	// #10: the host's default hooks, for backups whose group has none,
	// and its name on the server (a hook's RM_HOST_NAME).
	HostHooks *Hooks `json:"hooks,omitempty"`
	HostName  string `json:"host_name,omitempty"`
}

// MaxGroups and MaxSchedules bound a host's config.
const (
	MaxGroups    = 100
	MaxSchedules = 200
)

// Validate checks the header and the body of a config.
func (m *Config) Validate() error {
	if err := m.Envelope.Validate(TypeConfig); err != nil {
		return err
	}
	if m.Version < 1 {
		return errors.New("config without a version")
	}
	if m.Repository != nil {
		if err := m.Repository.Validate(); err != nil {
			return err
		}
	}
	if len(m.SourceGroups) > MaxGroups || len(m.Schedules) > MaxSchedules {
		return fmt.Errorf("config with %d source groups and %d schedules; at most %d and %d", len(m.SourceGroups), len(m.Schedules), MaxGroups, MaxSchedules)
	}
	groups := map[string]bool{}
	names := map[string]bool{}
	for i := range m.SourceGroups {
		g := &m.SourceGroups[i]
		if err := g.Validate(); err != nil {
			return err
		}
		if groups[g.ID] || names[strings.ToLower(g.Name)] {
			return fmt.Errorf("source group %s appears twice", g.Name)
		}
		groups[g.ID], names[strings.ToLower(g.Name)] = true, true
	}
	seen := map[string]bool{}
	for i := range m.Schedules {
		sc := &m.Schedules[i]
		if err := sc.Validate(); err != nil {
			return err
		}
		if seen[sc.ID] {
			return fmt.Errorf("schedule %s appears twice", sc.ID)
		}
		seen[sc.ID] = true
		if g := sc.groupRef(); g != "" && !groups[g] {
			return fmt.Errorf("schedule %s names source group %s, which the config does not have", sc.ID, g)
		}
	}
	if m.HostName != "" {
		if err := checkField1("host name", m.HostName); err != nil {
			return err
		}
	}
	if m.HostHooks != nil {
		if err := m.HostHooks.Validate(); err != nil {
			return err
		}
	}
	if m.Bandwidth != nil {
		return m.Bandwidth.Validate()
	}
	return nil
}

// MaxAckSeqs bounds one Ack's list.
const MaxAckSeqs = 10000

// Ack is sent by the server on rm/v1/hosts/{h}/down/ack (QoS 1) after it
// has durably stored (or refused for good) the outbox entries named.
type Ack struct {
	Envelope
	Seqs []uint64 `json:"seqs,omitempty"`
	// Resend asks the agent to republish every entry it still holds: the
	// server saw a gap (e.g. missing log lines before a terminal event).
	Resend bool `json:"resend,omitempty"`
}

// Validate checks the header and the body of an ack.
func (m *Ack) Validate() error {
	if err := m.Envelope.Validate(TypeAck); err != nil {
		return err
	}
	if len(m.Seqs) == 0 && !m.Resend {
		return errors.New("ack names nothing")
	}
	if len(m.Seqs) > MaxAckSeqs {
		return fmt.Errorf("ack names %d entries; at most %d", len(m.Seqs), MaxAckSeqs)
	}
	for _, s := range m.Seqs {
		if s == 0 {
			return errors.New("ack names sequence 0")
		}
	}
	return nil
}

// JobEvent is a job state transition, sent by the agent on
// rm/v1/hosts/{h}/up/job/{j}/event (QoS 1, through the outbox). The
// terminal one carries the Result.
type JobEvent struct {
	Envelope
	Seq     uint64   `json:"seq"` // outbox sequence, named by down/ack
	Job     string   `json:"job"`
	Version int64    `json:"version"`
	State   JobState `json:"state"`
	// At is when the transition happened on the agent (TS is when the
	// message was built; they differ for a job finished offline).
	At     time.Time  `json:"at"`
	Result *JobResult `json:"result,omitempty"`
	// Origin is set on every event of a job the agent started from a
	// schedule (#4); the server creates the job from the first it sees.
	Origin *JobOrigin `json:"origin,omitempty"`
}

// Validate checks the header and the body of a job event.
func (m *JobEvent) Validate() error {
	if err := m.Envelope.Validate(TypeJobEvent); err != nil {
		return err
	}
	if m.Seq == 0 {
		return errors.New("job event without outbox seq")
	}
	if !ValidJobID(m.Job) {
		return fmt.Errorf("invalid job id %q", clip(m.Job))
	}
	if m.Version < 2 {
		return errors.New("job event version must be at least 2 (1 is the queued job)")
	}
	if !m.State.Valid() || m.State == JobQueued {
		return fmt.Errorf("job event with state %q", clip(string(m.State)))
	}
	if m.At.IsZero() {
		return errors.New("job event without time")
	}
	if m.State.Terminal() != (m.Result != nil) {
		return errors.New("a result comes with, and only with, a terminal state")
	}
	if m.Origin != nil {
		if err := m.Origin.Validate(); err != nil {
			return err
		}
	}
	if m.Result != nil {
		return m.Result.Validate()
	}
	return nil
}

// JobResult is how a job ended.
type JobResult struct {
	// ExitCode is restic's exit status; nil when restic never ran (expired,
	// canceled before start, bad config), -1 when it was killed by a signal.
	ExitCode *int `json:"exit_code,omitempty"`
	// Reason says in one sentence why it did not plainly succeed.
	Reason string `json:"reason,omitempty"`
	// Detail is restic's own words for a failure.
	Detail        string    `json:"detail,omitempty"`
	ResticVersion string    `json:"restic_version,omitempty"`
	StartedAt     time.Time `json:"started_at,omitzero"`
	DurationMS    int64     `json:"duration_ms,omitempty"`
	// LogLines is the number of log lines the job produced (the last line
	// number); the server uses it to see that the whole log arrived.
	LogLines uint64 `json:"log_lines"`
	// SnapshotID is the snapshot a backup made.
	SnapshotID string `json:"snapshot_id,omitempty"`
	// Backup is restic's backup summary.
	Backup *BackupSummary `json:"backup,omitempty"`
	// Restore: what a restore wrote. restic 0.17+ tells files (any item
	// that is not a folder) and folders apart, and which files were
	// already as in the snapshot and left alone; restic 0.16 counts files
	// and folders together (ItemsRestored); before 0.16 restic says
	// nothing. Jobs stored before the agent told them apart have folders
	// counted in FilesRestored.
	FilesRestored  uint64 `json:"files_restored,omitempty"`
	DirsRestored   uint64 `json:"dirs_restored,omitempty"`
	FilesUnchanged uint64 `json:"files_unchanged,omitempty"`
	ItemsRestored  uint64 `json:"items_restored,omitempty"`
	BytesRestored  uint64 `json:"bytes_restored,omitempty"`
	// Init: the repository id, and whether it was already there.
	RepositoryID       string `json:"repository_id,omitempty"`
	AlreadyInitialized bool   `json:"already_initialized,omitempty"`
	// Forget: how many snapshots it removed (or, for a dry run, would
	// remove), and for a dry run which ones (full ids, at most
	// MaxPreviewIDs) and how many it keeps.
	SnapshotsRemoved int      `json:"snapshots_removed,omitempty"`
	WouldRemove      []string `json:"would_remove,omitempty"`
	SnapshotsKept    int      `json:"snapshots_kept,omitempty"`
	// ErrorCount is how many items restic could not read (backup); a
	// source path that does not exist is not one (Reason names it).
	ErrorCount int `json:"error_count,omitempty"`
	// Stats is what a stats job measured (#13).
	Stats *RepoStats `json:"stats,omitempty"`
	// Drill is what a restore drill found (#14, drill.go).
	Drill *DrillResult `json:"drill,omitempty"`
}

// MaxPreviewIDs bounds JobResult.WouldRemove.
const MaxPreviewIDs = 1000

// BackupSummary is restic's backup summary, as the server stores it.
type BackupSummary struct {
	FilesNew            uint64  `json:"files_new"`
	FilesChanged        uint64  `json:"files_changed"`
	FilesUnmodified     uint64  `json:"files_unmodified"`
	DirsNew             uint64  `json:"dirs_new"`
	DirsChanged         uint64  `json:"dirs_changed"`
	DirsUnmodified      uint64  `json:"dirs_unmodified"`
	DataAdded           uint64  `json:"data_added"`
	DataAddedPacked     uint64  `json:"data_added_packed,omitempty"`
	TotalFilesProcessed uint64  `json:"total_files_processed"`
	TotalBytesProcessed uint64  `json:"total_bytes_processed"`
	TotalDuration       float64 `json:"total_duration"` // seconds
}

// Validate checks a result's text fields and ids.
func (r *JobResult) Validate() error {
	if r.ExitCode != nil && (*r.ExitCode < -1 || *r.ExitCode > 255) {
		return fmt.Errorf("exit code %d out of range", *r.ExitCode)
	}
	for name, v := range map[string]string{"reason": r.Reason, "detail": r.Detail, "restic_version": r.ResticVersion} {
		if len(v) > 4096 || !utf8.ValidString(v) {
			return fmt.Errorf("result %s longer than 4096 bytes or not UTF-8", name)
		}
	}
	if r.SnapshotID != "" && !ValidResticID(r.SnapshotID) {
		return fmt.Errorf("invalid snapshot id %q", clip(r.SnapshotID))
	}
	if r.RepositoryID != "" && !ValidResticID(r.RepositoryID) {
		return fmt.Errorf("invalid repository id %q", clip(r.RepositoryID))
	}
	if r.DurationMS < 0 || r.SnapshotsRemoved < 0 || r.ErrorCount < 0 || r.SnapshotsKept < 0 {
		return errors.New("negative count in result")
	}
	if r.Stats != nil {
		if err := r.Stats.Validate(); err != nil {
			return err
		}
	}
	if r.Drill != nil {
		if err := r.Drill.Validate(); err != nil {
			return err
		}
	}
	if len(r.WouldRemove) > MaxPreviewIDs {
		return fmt.Errorf("result lists %d snapshots to remove; at most %d", len(r.WouldRemove), MaxPreviewIDs)
	}
	for _, id := range r.WouldRemove {
		if !ValidResticID(id) {
			return fmt.Errorf("invalid snapshot id %q", clip(id))
		}
	}
	return nil
}

// ValidResticID reports whether s is a restic snapshot or repository id
// (8 to 64 lowercase hex digits).
func ValidResticID(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Log line streams.
const (
	StreamStdout = "out"   // restic's stdout
	StreamStderr = "err"   // restic's stderr
	StreamAgent  = "agent" // the agent's own words (e.g. "running restic unlock first")
)

// Limits on a log batch: the agent flushes at 1 s or 32 KiB of text,
// whichever comes first; a single line is clipped to MaxLogLine.
const (
	MaxLogBatchBytes = 32 << 10
	MaxLogLine       = 16 << 10
	MaxLogBatchLines = 4096
)

// LogLine is one line of a job's log. Its number is the batch's First plus
// its index.
type LogLine struct {
	T      time.Time `json:"t"`
	Stream string    `json:"s"`
	Text   string    `json:"x"`
}

// JobLog is a batch of log lines, sent by the agent on
// rm/v1/hosts/{h}/up/job/{j}/log (QoS 1, through the outbox). Lines are
// numbered from 1 per job; a batch holds lines First..First+len(Lines)-1.
type JobLog struct {
	Envelope
	Seq   uint64    `json:"seq"`
	Job   string    `json:"job"`
	First uint64    `json:"first"`
	Lines []LogLine `json:"lines"`
}

// Last is the number of the batch's last line.
func (m *JobLog) Last() uint64 { return m.First + uint64(len(m.Lines)) - 1 }

// Validate checks the header and the body of a log batch.
func (m *JobLog) Validate() error {
	if err := m.Envelope.Validate(TypeJobLog); err != nil {
		return err
	}
	if m.Seq == 0 {
		return errors.New("log batch without outbox seq")
	}
	if !ValidJobID(m.Job) {
		return fmt.Errorf("invalid job id %q", clip(m.Job))
	}
	if m.First < 1 {
		return errors.New("log lines are numbered from 1")
	}
	if len(m.Lines) == 0 || len(m.Lines) > MaxLogBatchLines {
		return fmt.Errorf("log batch with %d lines (1 to %d)", len(m.Lines), MaxLogBatchLines)
	}
	if m.First > 1<<53 {
		return errors.New("log line number out of range")
	}
	total := 0
	for i, l := range m.Lines {
		if len(l.Text) > MaxLogLine || !utf8.ValidString(l.Text) {
			return fmt.Errorf("log line %d longer than %d bytes or not UTF-8", m.First+uint64(i), MaxLogLine)
		}
		if l.Stream != StreamStdout && l.Stream != StreamStderr && l.Stream != StreamAgent {
			return fmt.Errorf("log line %d: unknown stream %q", m.First+uint64(i), clip(l.Stream))
		}
		if l.T.IsZero() {
			return fmt.Errorf("log line %d without time", m.First+uint64(i))
		}
		total += len(l.Text)
	}
	if total > 4*MaxLogBatchBytes {
		return fmt.Errorf("log batch of %d bytes", total)
	}
	return nil
}

// JobProgress is the latest progress of a running backup or restore, sent
// by the agent on rm/v1/hosts/{h}/up/job/{j}/progress (QoS 0, at most once
// a second, not through the outbox: a lost one is replaced by the next).
type JobProgress struct {
	Envelope
	Job            string  `json:"job"`
	Percent        float64 `json:"percent"`
	FilesDone      uint64  `json:"files_done"`
	FilesTotal     uint64  `json:"files_total"`
	BytesDone      uint64  `json:"bytes_done"`
	BytesTotal     uint64  `json:"bytes_total"`
	ETASeconds     int64   `json:"eta_seconds"` // -1 unknown
	ElapsedSeconds int64   `json:"elapsed_seconds"`
	CurrentFile    string  `json:"current_file,omitempty"`
	ErrorCount     uint64  `json:"error_count,omitempty"`
}

// Validate checks the header and the body of a progress message.
func (m *JobProgress) Validate() error {
	if err := m.Envelope.Validate(TypeJobProgress); err != nil {
		return err
	}
	if !ValidJobID(m.Job) {
		return fmt.Errorf("invalid job id %q", clip(m.Job))
	}
	if !(m.Percent >= 0 && m.Percent <= 100) {
		return errors.New("percent out of range")
	}
	if m.ETASeconds < -1 || m.ElapsedSeconds < 0 {
		return errors.New("negative time in progress")
	}
	if len(m.CurrentFile) > MaxSpecField || !utf8.ValidString(m.CurrentFile) {
		return errors.New("current_file too long or not UTF-8")
	}
	return nil
}

// MaxSnapshotsPerPart bounds one SnapshotReport part; a longer list is
// split into parts that the server assembles.
const MaxSnapshotsPerPart = 200

// SnapshotReport is the host's snapshot list (restic snapshots --json),
// sent by the agent on rm/v1/hosts/{h}/up/snapshots (QoS 1, through the
// outbox) after each backup and forget and for a snapshots job. A long
// list comes in Parts parts sharing one Report id; the server replaces the
// host's list once it holds all parts of a report newer than the last one
// it applied (by TakenAt).
type SnapshotReport struct {
	Envelope
	Seq       uint64         `json:"seq"`
	Report    string         `json:"report"` // shared by the parts of one report
	Part      int            `json:"part"`   // 1..Parts
	Parts     int            `json:"parts"`
	TakenAt   time.Time      `json:"taken_at"`
	Job       string         `json:"job,omitempty"` // the job that produced it, if any
	Snapshots []SnapshotInfo `json:"snapshots"`
}

// SnapshotInfo is one snapshot as the wire carries it and the server keeps
// it (server.Snapshot adds only the short id). Only parent is left out
// when empty: the server's API shows the rest always (a list that is
// empty as [], the sizes 0 before restic 0.17).
type SnapshotInfo struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Hostname string    `json:"hostname"`
	Username string    `json:"username"`
	Paths    []string  `json:"paths"`
	Tags     []string  `json:"tags"`
	Parent   string    `json:"parent,omitempty"`
	// From restic 0.17+ snapshots carry their backup summary.
	DataAdded           uint64 `json:"data_added"`
	TotalFilesProcessed uint64 `json:"total_files_processed"`
	TotalBytesProcessed uint64 `json:"total_bytes_processed"`
}

// Validate checks the header and the body of a snapshot report part.
func (m *SnapshotReport) Validate() error {
	if err := m.Envelope.Validate(TypeSnapshots); err != nil {
		return err
	}
	if m.Seq == 0 {
		return errors.New("snapshot report without outbox seq")
	}
	if !ValidID(m.Report) {
		return fmt.Errorf("invalid report id %q", clip(m.Report))
	}
	if m.Parts < 1 || m.Parts > 10000 || m.Part < 1 || m.Part > m.Parts {
		return fmt.Errorf("snapshot report part %d of %d", m.Part, m.Parts)
	}
	if m.TakenAt.IsZero() {
		return errors.New("snapshot report without taken_at")
	}
	if m.Job != "" && !ValidJobID(m.Job) {
		return fmt.Errorf("invalid job id %q", clip(m.Job))
	}
	if len(m.Snapshots) > MaxSnapshotsPerPart {
		return fmt.Errorf("snapshot report part with %d snapshots; at most %d", len(m.Snapshots), MaxSnapshotsPerPart)
	}
	for _, s := range m.Snapshots {
		if !ValidResticID(s.ID) || len(s.ID) != 64 {
			return fmt.Errorf("invalid snapshot id %q", clip(s.ID))
		}
		if s.Parent != "" && !ValidResticID(s.Parent) {
			return fmt.Errorf("snapshot %s: invalid parent id", s.ID[:8])
		}
		if s.Time.IsZero() {
			return fmt.Errorf("snapshot %s without time", s.ID[:8])
		}
		if len(s.Paths) > MaxSpecList || len(s.Tags) > MaxSpecList {
			return fmt.Errorf("snapshot %s lists too many paths or tags", s.ID[:8])
		}
		for _, v := range append(append([]string{s.Hostname, s.Username}, s.Paths...), s.Tags...) {
			if len(v) > MaxSpecField || !utf8.ValidString(v) {
				return fmt.Errorf("snapshot %s: a field is longer than %d bytes or not UTF-8", s.ID[:8], MaxSpecField)
			}
		}
	}
	return nil
}
