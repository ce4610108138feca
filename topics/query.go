package topics

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Queries (#14): short request/response exchanges between the server and
// one agent — browse a snapshot's folder, search the host's snapshots, diff
// two snapshots. In short:
//
//   - The server publishes a Query on the host's down/query (QoS 1, not
//     retained) only while the host is online; its envelope id is the
//     request id. A query is not a job: it is not stored, not journaled,
//     not queued behind jobs, and a lost one simply times out.
//   - The agent runs it at once beside whatever job runs (restic's
//     non-exclusive lock), within TimeoutMS of receiving it, and answers
//     with one Reply on up/reply (QoS 1, not through the outbox) naming
//     the request. A reply must fit one MQTT packet: results are paged
//     (TreePageSize) or capped (MaxFindMatches, MaxDiffChanges), with
//     Truncated saying so.
//   - The server matches a reply to its request by id and host; a reply
//     for an unknown or finished request, or from another host, is dropped.
//
// The op set is meant to grow: a new op adds a QueryOp constant, its
// fields' rule in queryRules and its result in Reply.

// Message types of the query protocol.
const (
	TypeQuery = "query" // server → agent, on down/query
	TypeReply = "reply" // agent → server, on up/reply
)

// QueryOp names what a query asks.
type QueryOp string

// The query ops.
const (
	QueryLs   QueryOp = "ls"   // one folder of a snapshot, one page of it
	QueryFind QueryOp = "find" // a name or glob over all the host's snapshots
	QueryDiff QueryOp = "diff" // what changed between two snapshots
	QueryDump QueryOp = "dump" // a file or folder, uploaded over HTTPS (dump.go)
)

// Bounds of the query protocol. A reply must fit the broker's packet limit
// (256 KiB, MaxPayload): a page of TreePageSize entries with names of
// typical length is far below it, and the agent shortens a page, a search
// or a diff that would not fit (marking it Truncated) rather than send a
// message nobody can receive.
const (
	// TreePageSize is how many entries of a folder one ls reply carries.
	TreePageSize = 500
	// MaxTreeEntries bounds how many entries of one folder the agent
	// sorts and pages; a folder with more is counted whole (Total) but
	// only its first MaxTreeEntries in restic's order can be paged
	// through (Truncated).
	MaxTreeEntries = 100000
	// MaxTreePage is the highest page number a query may ask for.
	MaxTreePage = MaxTreeEntries / TreePageSize
	// MaxFindMatches bounds the matches of one find reply.
	MaxFindMatches = 500
	// MaxDiffChanges bounds the changed paths of one diff reply.
	MaxDiffChanges = 1000
	// MaxQueryPattern bounds a find pattern's length in bytes, and
	// MaxPatternWildcards the number of *, ? and [ in it.
	MaxQueryPattern     = 256
	MaxPatternWildcards = 16
	// MaxEntryName bounds a tree entry's name in bytes (generous: a
	// Windows name of 255 UTF-16 units takes up to 765 bytes).
	MaxEntryName = 1024
	// MaxQueryPath bounds a path in a query or a reply.
	MaxQueryPath = 4096
	// MaxQueryTimeout bounds how long an agent works on one query;
	// DefaultQueryTimeout is what the server asks when unsure.
	MaxQueryTimeout     = 5 * time.Minute
	DefaultQueryTimeout = 30 * time.Second
	// MaxReplyError bounds a reply's error sentence.
	MaxReplyError = 1024
)

// Query is one request to an agent. Its envelope id is the request id the
// Reply names. Only the fields of its Op may be set.
type Query struct {
	Envelope
	Op QueryOp `json:"op"`
	// TimeoutMS is how long the agent may work on it, in milliseconds,
	// counted from when it receives it (a relative time, so that a host
	// whose clock is off still gets the time it was given). Past it the
	// agent stops restic and answers with a timeout error, or not at all.
	TimeoutMS int64 `json:"timeout_ms"`

	// Snapshot is the snapshot to list (ls): an id (8 to 64 hex digits)
	// or "latest", as for a restore; or the first of a diff (an id only).
	Snapshot string `json:"snapshot,omitempty"`
	// Path is the absolute folder to list (ls).
	Path string `json:"path,omitempty"`
	// Page is the page of the folder (ls), from 0.
	Page int `json:"page,omitempty"`
	// Pattern is the name or glob to search for (find); restic matches it
	// against names, or against whole paths when it holds a '/'.
	Pattern string `json:"pattern,omitempty"`
	// SnapshotTo is the second snapshot id of a diff: what changed from
	// Snapshot to SnapshotTo.
	SnapshotTo string `json:"snapshot_to,omitempty"`
	// Format is how a dump packs a folder (DumpFormat); Upload is the
	// one-time token its upload goes with (DumpUploadPath).
	Format DumpFormat `json:"format,omitempty"`
	Upload string     `json:"upload,omitempty"`
}

// queryRules says, per op, which fields it takes and checks them. Fields
// of other ops must be empty (checkQueryFields).
var queryRules = map[QueryOp]struct {
	fields string // the op's fields, for the error and the emptiness check
	check  func(*Query) error
}{
	QueryLs:   {"snapshot path page", checkLsQuery},
	QueryFind: {"pattern", func(q *Query) error { return CheckFindPattern(q.Pattern) }},
	QueryDiff: {"snapshot snapshot_to", checkDiffQuery},
	QueryDump: {"snapshot path format upload", checkDumpQuery},
}

// Timeout is TimeoutMS as a duration.
func (q *Query) Timeout() time.Duration { return time.Duration(q.TimeoutMS) * time.Millisecond }

// Validate checks the header, the op and its fields.
func (q *Query) Validate() error {
	if err := q.Envelope.Validate(TypeQuery); err != nil {
		return err
	}
	rule, ok := queryRules[q.Op]
	if !ok {
		return fmt.Errorf("unknown query op %q", clip(string(q.Op)))
	}
	if q.TimeoutMS < 1 || q.Timeout() > MaxQueryTimeout {
		return fmt.Errorf("query timeout must be between 1 ms and %s", MaxQueryTimeout)
	}
	if err := checkQueryFields(q, rule.fields); err != nil {
		return err
	}
	return rule.check(q)
}

// checkQueryFields refuses a field the op does not take.
func checkQueryFields(q *Query, fields string) error {
	set := map[string]bool{
		"snapshot": q.Snapshot != "", "path": q.Path != "", "page": q.Page != 0,
		"pattern": q.Pattern != "", "snapshot_to": q.SnapshotTo != "",
		"format": q.Format != "", "upload": q.Upload != "",
	}
	allowed := strings.Fields(fields)
	for name, isSet := range set {
		if isSet && !slices.Contains(allowed, name) {
			return fmt.Errorf("%s does not belong to a %s query", name, q.Op)
		}
	}
	return nil
}

func checkLsQuery(q *Query) error {
	if err := CheckSnapshotRef(q.Snapshot); err != nil {
		return err
	}
	if err := CheckBrowsePath(q.Path); err != nil {
		return err
	}
	if q.Page < 0 || q.Page > MaxTreePage {
		return fmt.Errorf("page must be between 0 and %d", MaxTreePage)
	}
	return nil
}

// checkDiffQuery: restic's diff takes snapshot ids, not "latest".
func checkDiffQuery(q *Query) error {
	for _, s := range []string{q.Snapshot, q.SnapshotTo} {
		if err := CheckSnapshotRef(s); err != nil || s == "latest" {
			return fmt.Errorf("%q is not a snapshot id: a diff compares two snapshot ids (8 to 64 hex digits)", clip(s))
		}
	}
	return nil
}

// CheckSnapshotRef checks a snapshot reference from outside: an id of 8 to
// 64 lowercase hex digits, or "latest" (the rule a restore's snapshot
// follows).
func CheckSnapshotRef(s string) error {
	if !snapshotRefRE.MatchString(s) {
		return fmt.Errorf("%q is not a snapshot: use a snapshot id (8 to 64 hex digits) or \"latest\"", clip(s))
	}
	return nil
}

// CheckBrowsePath checks a path to browse in a snapshot: absolute (Unix
// or Windows form), at most MaxQueryPath bytes, UTF-8, no control
// characters, and no "." or ".." element.
func CheckBrowsePath(p string) error {
	switch {
	case p == "":
		return errors.New("a path is needed: an absolute folder such as /home")
	case len(p) > MaxQueryPath:
		return fmt.Errorf("path longer than %d bytes", MaxQueryPath)
	case !utf8.ValidString(p) || strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("path %q contains control characters or is not UTF-8", clip(p))
	case !IsAbsPath(p):
		return fmt.Errorf("path %q must be absolute, such as /home", clip(p))
	}
	for _, el := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if el == "." || el == ".." {
			return fmt.Errorf("path %q must not contain . or .. elements", clip(p))
		}
	}
	return nil
}

// CheckFindPattern checks a find pattern: 1 to MaxQueryPattern bytes of
// UTF-8 without control characters, a valid glob, at most
// MaxPatternWildcards wildcards.
func CheckFindPattern(p string) error {
	switch {
	case p == "":
		return errors.New("a search pattern is needed: a file name or a glob such as *.pdf")
	case len(p) > MaxQueryPattern:
		return fmt.Errorf("search pattern longer than %d bytes", MaxQueryPattern)
	case !utf8.ValidString(p) || strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("search pattern contains control characters or is not UTF-8")
	case strings.Count(p, "*")+strings.Count(p, "?")+strings.Count(p, "[") > MaxPatternWildcards:
		return fmt.Errorf("search pattern has more than %d wildcards", MaxPatternWildcards)
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("search pattern %q is not a valid glob (check its brackets)", clip(p))
	}
	return nil
}
