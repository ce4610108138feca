package restic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"syscall"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// BackupSummary is restic's `summary` message at the end of a backup. Field
// names follow restic's JSON. SnapshotID is empty when no snapshot was made
// (dry run, or a failure before the end). restic before 0.15 reports the
// 8-digit short ID; Runner.Run then looks up the full one (one extra
// `restic snapshots`) and keeps the short one only if that fails.
//
// Its counters are the wire's topics.BackupSummary (restic's names; the
// job result carries them as they are; data_added_packed since restic
// 0.15), embedded so they are declared once.
type BackupSummary struct {
	SnapshotID string `json:"snapshot_id,omitempty"`
	DryRun     bool   `json:"dry_run,omitempty"`
	topics.BackupSummary
	DataBlobs   int64     `json:"data_blobs"`
	TreeBlobs   int64     `json:"tree_blobs"`
	BackupStart time.Time `json:"backup_start,omitzero"` // restic 0.17+
	BackupEnd   time.Time `json:"backup_end,omitzero"`   // restic 0.17+
}

// RestoreSummary is restic's `summary` message at the end of a restore
// (restic 0.16+; older versions print text only and leave it nil).
type RestoreSummary struct {
	SecondsElapsed uint64 `json:"seconds_elapsed"`
	TotalFiles     uint64 `json:"total_files"`
	FilesRestored  uint64 `json:"files_restored"`
	FilesSkipped   uint64 `json:"files_skipped"`
	FilesDeleted   uint64 `json:"files_deleted"`
	TotalBytes     uint64 `json:"total_bytes"`
	BytesRestored  uint64 `json:"bytes_restored"`
	BytesSkipped   uint64 `json:"bytes_skipped"`
}

// RestoreCount is what a restore did, item by item, counted from
// restic's verbose_status messages (restic 0.17+, run with --verbose=2).
// restic's own summary counts folders as files (and, restoring a subset,
// counts the parent folders it restores in files_restored but not in
// total_files); this keeps them apart.
type RestoreCount struct {
	// Files are the files (and symlinks, devices, ...) restic wrote or
	// updated.
	Files uint64
	// Dirs are the folders restic created or set the metadata of.
	Dirs uint64
	// Unchanged are the files that were already as in the snapshot and
	// left alone.
	Unchanged uint64
}

// verboseStatus is a `verbose_status` message. restore (restic 0.17+)
// prints one per item with --verbose=2: action "restored", "updated",
// "unchanged" or "deleted", and the item's path in the snapshot.
type verboseStatus struct {
	Action string `json:"action"`
	Item   string `json:"item"`
	Size   uint64 `json:"size"`
}

// CheckSummary is restic's `summary` message at the end of a check (restic
// 0.18+; older versions print text only and leave it nil).
type CheckSummary struct {
	NumErrors          int64    `json:"num_errors"`
	BrokenPacks        []string `json:"broken_packs"`
	SuggestRepairIndex bool     `json:"suggest_repair_index"`
	SuggestPrune       bool     `json:"suggest_prune"`
}

// ItemError is one error restic reported and carried on after: a file it
// could not read during backup, one it could not write during restore, a
// problem check found, or a source path that does not exist.
type ItemError struct {
	Item    string `json:"item,omitempty"`
	During  string `json:"during,omitempty"`
	Message string `json:"message"`
}

// exitError is restic's `exit_error` message (restic 0.17+, on stderr).
type exitError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// statusMsg is a `status` message of backup or restore; which counters are
// set depends on the command.
type statusMsg struct {
	SecondsElapsed   uint64   `json:"seconds_elapsed"`
	SecondsRemaining *uint64  `json:"seconds_remaining"`
	PercentDone      float64  `json:"percent_done"`
	TotalFiles       uint64   `json:"total_files"`
	FilesDone        uint64   `json:"files_done"`
	FilesRestored    uint64   `json:"files_restored"`
	TotalBytes       uint64   `json:"total_bytes"`
	BytesDone        uint64   `json:"bytes_done"`
	BytesRestored    uint64   `json:"bytes_restored"`
	ErrorCount       uint64   `json:"error_count"`
	CurrentFiles     []string `json:"current_files"`
}

// event is what one output line meant. typ is restic's message_type,
// "snapshots" or "forget" for the array documents, or "" for plain text.
type event struct {
	typ       string
	status    *statusMsg
	backup    *BackupSummary
	restore   *RestoreSummary
	check     *CheckSummary
	itemErr   *ItemError
	exit      *exitError
	verbose   *verboseStatus
	repoID    string
	stats     *topics.RepoStats
	snapshots []Snapshot
	groups    []ForgetGroup
}

// kindCatConfig is the internal operation that verifies an existing
// repository after `init` found one. `restic cat config` prints the
// repository config as indented JSON, so its ID is read from the line
// `"id": "<hex>",` (configIDRE) rather than decoded as a message.
const kindCatConfig topics.JobKind = "cat config"

var configIDRE = regexp.MustCompile(`^\s*"id":\s*"([0-9a-f]{64})",?\s*$`)

// decodeLine interprets one line of restic output for an operation of kind.
// Anything it does not recognise, or that does not decode cleanly, is plain
// text (typ ""): restic adds message types and fields over time, and a line
// we cannot read must never stop the run.
func decodeLine(kind topics.JobKind, line []byte) event {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return event{}
	}
	switch line[0] {
	case '[':
		switch kind {
		case topics.JobSnapshots:
			if s, err := ParseSnapshots(line); err == nil {
				return event{typ: "snapshots", snapshots: s}
			}
		case topics.JobForget:
			if g, err := ParseForgetGroups(line); err == nil {
				return event{typ: "forget", groups: g}
			}
		}
		return event{}
	case '{':
	default:
		return event{}
	}
	var head struct {
		Type string `json:"message_type"`
	}
	if json.Unmarshal(line, &head) != nil {
		return event{}
	}
	if kind == topics.JobStats && (head.Type == "" || head.Type == "stats") {
		if st, err := ParseStats(line); err == nil {
			return event{typ: "stats", stats: st}
		}
		return event{}
	}
	ev := event{typ: head.Type}
	var ok bool
	switch head.Type {
	case "":
		return event{}
	case "status":
		ev.status = new(statusMsg)
		ok = decodeInto(line, ev.status) && validStatus(ev.status)
	case "summary":
		ok = decodeSummary(kind, line, &ev)
	case "error":
		ev.itemErr, ok = decodeItemError(line)
	case "exit_error":
		ev.exit = new(exitError)
		ok = decodeInto(line, ev.exit)
	case "initialized":
		var m struct {
			ID string `json:"id"`
		}
		ok = decodeInto(line, &m) && topics.ValidResticID(m.ID)
		ev.repoID = m.ID
	case "verbose_status":
		ev.verbose = new(verboseStatus)
		ok = decodeInto(line, ev.verbose)
	default:
		ok = true // a message type we do not use
	}
	if !ok {
		return event{}
	}
	return ev
}

func decodeInto(line []byte, v any) bool { return json.Unmarshal(line, v) == nil }

func validStatus(s *statusMsg) bool {
	return !math.IsNaN(s.PercentDone) && !math.IsInf(s.PercentDone, 0)
}

func decodeSummary(kind topics.JobKind, line []byte, ev *event) bool {
	switch kind {
	case topics.JobBackup:
		s := new(BackupSummary)
		if !decodeInto(line, s) || (s.SnapshotID != "" && !topics.ValidResticID(s.SnapshotID)) {
			return false
		}
		s.TotalDuration = max(s.TotalDuration, 0)
		ev.backup = s
	case topics.JobRestore:
		ev.restore = new(RestoreSummary)
		return decodeInto(line, ev.restore)
	case topics.JobCheck:
		ev.check = new(CheckSummary)
		return decodeInto(line, ev.check)
	}
	return true
}

// decodeItemError reads an `error` message. restic 0.17+ writes
// {"error":{"message":"..."}}; 0.14–0.16 marshal the Go error value, which
// for a file error is {"Op":"read","Path":"/x","Err":5} and otherwise often
// just {}; check writes {"message":"..."}.
func decodeItemError(line []byte) (*ItemError, bool) {
	var m struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		During  string          `json:"during"`
		Item    string          `json:"item"`
	}
	if !decodeInto(line, &m) {
		return nil, false
	}
	msg := m.Message
	if msg == "" {
		msg = errorText(m.Error, 0)
	}
	if msg == "" {
		msg = "unknown error (this restic version does not report details)"
	}
	return &ItemError{Item: m.Item, During: m.During, Message: clip(msg, 1000)}, true
}

// errorText renders restic's JSON form of a Go error.
func errorText(raw json.RawMessage, depth int) string {
	if len(raw) == 0 || depth > 3 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n int64
	if json.Unmarshal(raw, &n) == nil {
		// A syscall.Errno from the same platform the agent runs on.
		return syscall.Errno(n).Error()
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return clip(string(raw), 500)
	}
	if msg := errorText(obj["message"], depth+1); msg != "" {
		return msg
	}
	op, path, inner := errorText(obj["Op"], depth+1), errorText(obj["Path"], depth+1), errorText(obj["Err"], depth+1)
	if op != "" || path != "" || inner != "" {
		return fmt.Sprintf("%s %s: %s", op, path, inner)
	}
	if len(obj) == 0 {
		return ""
	}
	return clip(string(raw), 500)
}
