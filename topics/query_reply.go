package topics

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Reply is an agent's answer to one Query: either Error (one sentence,
// with ErrorKind) or the result of the query's op.
type Reply struct {
	Envelope
	// Request is the envelope id of the Query this answers.
	Request string  `json:"request"`
	Op      QueryOp `json:"op"`
	// Error says in one sentence why the query could not be answered;
	// ErrorKind classifies it (ReplyErr*).
	Error     string `json:"error,omitempty"`
	ErrorKind string `json:"error_kind,omitempty"`

	Tree *TreePage   `json:"tree,omitempty"` // ls
	Find *FindResult `json:"find,omitempty"` // find
	Diff *DiffResult `json:"diff,omitempty"` // diff
	Dump *DumpStart  `json:"dump,omitempty"` // dump: what the upload sends
}

// Error kinds of a Reply.
const (
	// ReplyErrNotFound: the snapshot or the folder does not exist.
	ReplyErrNotFound = "not_found"
	// ReplyErrBusy: the agent is answering as many queries as it may, or
	// the repository is locked exclusively (a prune); try again later.
	ReplyErrBusy = "busy"
	// ReplyErrUnsupported: this host's restic cannot do it (too old).
	ReplyErrUnsupported = "unsupported"
	// ReplyErrTimeout: restic did not finish within the query's timeout.
	ReplyErrTimeout = "timeout"
	// ReplyErrFailed: anything else (no repository, restic failed).
	ReplyErrFailed = "failed"
)

var replyErrKinds = []string{ReplyErrNotFound, ReplyErrBusy, ReplyErrUnsupported, ReplyErrTimeout, ReplyErrFailed}

// TreePage is one page of one folder of a snapshot: folders first, then
// everything else, each group by name (byte order).
type TreePage struct {
	// Path is the folder listed.
	Path string `json:"path"`
	// Page is the page number (from 0); PageSize is TreePageSize.
	Page     int `json:"page"`
	PageSize int `json:"page_size"`
	// Total is how many entries the folder holds.
	Total int `json:"total"`
	// Entries are the page's entries.
	Entries []TreeEntry `json:"entries"`
	// Truncated is set when not everything could be shown: the folder
	// holds more than MaxTreeEntries (only that many are paged), or this
	// page's names were too long for one message and it was shortened.
	Truncated bool `json:"truncated,omitempty"`
}

// TreeEntry is one item of a folder.
type TreeEntry struct {
	Name  string    `json:"name"`
	Type  string    `json:"type"` // one of NodeTypes
	Size  uint64    `json:"size"` // bytes, for a file
	MTime time.Time `json:"mtime"`
}

// NodeTypes are the item types restic records.
var NodeTypes = []string{"dir", "file", "symlink", "dev", "chardev", "fifo", "socket", "irregular"}

// FindResult is what a search found, newest snapshot first as restic
// reports it.
type FindResult struct {
	Matches []FindMatch `json:"matches"`
	// Truncated: there were more than MaxFindMatches matches (or they did
	// not fit one message); only the first are here.
	Truncated bool `json:"truncated,omitempty"`
}

// FindMatch is one path found in one snapshot.
type FindMatch struct {
	Snapshot string    `json:"snapshot"` // full snapshot id, 64 hex
	Path     string    `json:"path"`
	Type     string    `json:"type"`
	Size     uint64    `json:"size"`
	MTime    time.Time `json:"mtime"`
}

// DiffResult is what changed between two snapshots.
type DiffResult struct {
	Changes []DiffChange `json:"changes"`
	// Truncated: more than MaxDiffChanges paths changed; only the first
	// are listed (Stats still counts them all).
	Truncated bool `json:"truncated,omitempty"`
	// Stats is restic's summary of the whole diff (nil if restic gave
	// none).
	Stats *DiffStats `json:"stats,omitempty"`
}

// DiffChange is one changed path. Modifier is restic's: "+" added, "-"
// removed, "M" content changed, "T" type changed, "U" metadata changed,
// "?" the same content read back differently (bitrot).
type DiffChange struct {
	Path     string `json:"path"`
	Modifier string `json:"modifier"`
}

// DiffModifiers are the modifiers restic's diff reports.
const DiffModifiers = "+-MTU?"

// DiffStats is restic's summary of a diff: how many files changed and
// what the second snapshot added and removed, with sizes.
type DiffStats struct {
	ChangedFiles int64       `json:"changed_files"`
	Added        DiffCounted `json:"added"`
	Removed      DiffCounted `json:"removed"`
}

// DiffCounted counts one side of a diff.
type DiffCounted struct {
	Files  int64 `json:"files"`
	Dirs   int64 `json:"dirs"`
	Others int64 `json:"others"`
	Bytes  int64 `json:"bytes"`
}

// Validate checks the header, the request it names, and that it carries
// either an error or the result of its op, within bounds.
func (r *Reply) Validate() error {
	if err := r.Envelope.Validate(TypeReply); err != nil {
		return err
	}
	if r.Request == "" || len(r.Request) > 64 || !printable(r.Request) {
		return errors.New("reply names no valid request id")
	}
	if _, ok := queryRules[r.Op]; !ok {
		return fmt.Errorf("unknown query op %q", clip(string(r.Op)))
	}
	results := 0
	for _, set := range []bool{r.Tree != nil, r.Find != nil, r.Diff != nil, r.Dump != nil} {
		if set {
			results++
		}
	}
	if r.Error != "" || r.ErrorKind != "" {
		if r.Error == "" || len(r.Error) > MaxReplyError || !utf8.ValidString(r.Error) || !slices.Contains(replyErrKinds, r.ErrorKind) {
			return errors.New("a reply's error needs one sentence (at most 1 KiB) and a known error kind")
		}
		if results != 0 {
			return errors.New("a reply carries an error or a result, not both")
		}
		return nil
	}
	switch {
	case results != 1:
		return errors.New("a reply carries exactly one result or an error")
	case r.Op == QueryLs && r.Tree != nil:
		return r.Tree.Validate()
	case r.Op == QueryFind && r.Find != nil:
		return r.Find.Validate()
	case r.Op == QueryDiff && r.Diff != nil:
		return r.Diff.Validate()
	case r.Op == QueryDump && r.Dump != nil:
		return r.Dump.Validate()
	}
	return fmt.Errorf("a %s reply carries another op's result", r.Op)
}

// Validate checks a page's bounds and entries.
func (p *TreePage) Validate() error {
	if err := CheckBrowsePath(p.Path); err != nil {
		return err
	}
	switch {
	case p.Page < 0 || p.Page > MaxTreePage:
		return fmt.Errorf("page must be between 0 and %d", MaxTreePage)
	case p.PageSize != TreePageSize:
		return fmt.Errorf("page size must be %d", TreePageSize)
	case len(p.Entries) > TreePageSize:
		return fmt.Errorf("a page holds at most %d entries", TreePageSize)
	case p.Total < len(p.Entries) || p.Total < 0:
		return errors.New("a folder's total is less than its page")
	}
	for i := range p.Entries {
		e := &p.Entries[i]
		if e.Name == "" || len(e.Name) > MaxEntryName || !utf8.ValidString(e.Name) || strings.ContainsAny(e.Name, "/\x00") ||
			e.Name == "." || e.Name == ".." {
			return fmt.Errorf("entry %d: a name must be 1 to %d bytes of UTF-8 without / or NUL", i, MaxEntryName)
		}
		if !slices.Contains(NodeTypes, e.Type) {
			return fmt.Errorf("entry %q: unknown type %q", clip(e.Name), clip(e.Type))
		}
		if e.Size > MaxStatsValue {
			return fmt.Errorf("entry %q: size out of range", clip(e.Name))
		}
	}
	return nil
}

// Validate checks a search result's bounds and matches.
func (f *FindResult) Validate() error {
	if len(f.Matches) > MaxFindMatches {
		return fmt.Errorf("a search result holds at most %d matches", MaxFindMatches)
	}
	for i := range f.Matches {
		m := &f.Matches[i]
		if !ValidSnapshotID(m.Snapshot) {
			return fmt.Errorf("match %d: not a full snapshot id", i)
		}
		if err := checkReplyPath(m.Path); err != nil {
			return fmt.Errorf("match %d: %w", i, err)
		}
		if !slices.Contains(NodeTypes, m.Type) || m.Size > MaxStatsValue {
			return fmt.Errorf("match %d: unknown type %q or size out of range", i, clip(m.Type))
		}
	}
	return nil
}

// Validate checks a diff's bounds and changes.
func (d *DiffResult) Validate() error {
	if len(d.Changes) > MaxDiffChanges {
		return fmt.Errorf("a diff holds at most %d changes", MaxDiffChanges)
	}
	for i := range d.Changes {
		c := &d.Changes[i]
		if err := checkReplyPath(c.Path); err != nil {
			return fmt.Errorf("change %d: %w", i, err)
		}
		if len(c.Modifier) != 1 || !strings.Contains(DiffModifiers, c.Modifier) {
			return fmt.Errorf("change %d: unknown modifier %q", i, clip(c.Modifier))
		}
	}
	if s := d.Stats; s != nil {
		for _, v := range []int64{s.ChangedFiles, s.Added.Files, s.Added.Dirs, s.Added.Others, s.Added.Bytes,
			s.Removed.Files, s.Removed.Dirs, s.Removed.Others, s.Removed.Bytes} {
			if v < 0 {
				return errors.New("a diff's counts cannot be negative")
			}
		}
	}
	return nil
}

// checkReplyPath checks a path an agent reports: what restic prints may
// hold any character a file name may, so only the length, UTF-8 and the
// leading slash are checked.
func checkReplyPath(p string) error {
	if p == "" || len(p) > MaxQueryPath || !utf8.ValidString(p) || strings.ContainsRune(p, 0) || !IsAbsPath(p) {
		return fmt.Errorf("path must be absolute, 1 to %d bytes of UTF-8", MaxQueryPath)
	}
	return nil
}

// ValidSnapshotID reports whether s is a full snapshot id (64 lowercase
// hex digits).
func ValidSnapshotID(s string) bool { return ValidSHA256Hex(s) }

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
