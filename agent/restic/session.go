package restic

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// Bounds on what one run keeps in memory besides its decoded results.
const (
	maxErrors     = 100 // ItemErrors kept in Result; the rest are counted
	maxStderrTail = 20  // plain stderr lines kept to explain a failure
)

var (
	// missingSourceRE is restic's note for a backup path that does not
	// exist; restic skips it and still exits 0 (every version we know).
	missingSourceRE = regexp.MustCompile(`^(.+) does not exist, skipping$`)
	// createdRE is restic < 0.15's text answer to `init` (no JSON).
	createdRE = regexp.MustCompile(`^created restic repository ([0-9a-f]{8,64}) at `)
)

// session turns the output of one restic process into callbacks and the
// pieces of a Result. Lines arrive from two goroutines (stdout, stderr);
// the mutex keeps the state and the callbacks one at a time.
type session struct {
	mu    sync.Mutex
	kind  topics.JobKind
	op    Op
	red   *redactor
	start time.Time
	now   func() time.Time
	thr   throttle

	res            Result
	exit           *exitError
	stderrTail     []string
	missingSources []string // backup paths restic skipped: they do not exist
}

func newSession(kind topics.JobKind, op Op, start time.Time) *session {
	return &session{
		kind:  kind,
		op:    op,
		red:   newRedactor(op.Repository),
		start: start,
		now:   time.Now,
		thr:   throttle{interval: ProgressInterval},
		res:   Result{Kind: op.Kind},
	}
}

// startProcess starts cmd and then calls onStart (if set) with args. restic's
// lines wait meanwhile (handle takes the same lock), so the start comes
// first in the log.
func (s *session) startProcess(cmd *exec.Cmd, onStart func([]string), args []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	if onStart != nil {
		onStart(args)
	}
	return nil
}

// statusPrefix starts every status line of restic's JSON output
// (message_type is the first field of each message it prints).
var statusPrefix = []byte(`{"message_type":"status"`)

// handle processes one raw line from stream.
func (s *session) handle(stream Stream, raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if bytes.HasPrefix(raw, statusPrefix) && !s.progressDue() {
		// restic prints status up to 60 times a second and at most one a
		// ProgressInterval is passed on: the others are not decoded.
		return
	}
	text := sanitize(raw)
	ev := decodeLine(s.kind, []byte(text))
	switch ev.typ {
	case "status":
		s.progress(ev.status)
		return // progress is not log material: restic prints it several times a second
	case "summary":
		s.res.Summary = firstNonNil(ev.backup, s.res.Summary)
		s.res.RestoreSummary = firstNonNil(ev.restore, s.res.RestoreSummary)
		s.res.CheckSummary = firstNonNil(ev.check, s.res.CheckSummary)
		return // the agent sums it up in words; raw JSON is no log material
	case "verbose_status":
		if s.kind == topics.JobRestore {
			s.countRestored(ev.verbose)
		}
		return // one per item: counted, not logged
	case "error":
		s.addError(*ev.itemErr)
		s.emitLines(stream, errorLine(*ev.itemErr))
		return
	case "exit_error":
		s.exit = ev.exit
		if ev.exit.Message != "" {
			s.emitLines(stream, ev.exit.Message)
			return
		}
	case "stats":
		s.res.Stats = ev.stats
		return // the agent sums it up in words
	case "initialized":
		s.res.RepositoryID = ev.repoID
		return // the agent's line names the repository created
	case "snapshots":
		s.res.Snapshots = ev.snapshots
		text = fmt.Sprintf("[restic listed %d snapshots]", len(ev.snapshots))
	case "forget":
		s.res.Forget = ev.groups
		s.forgetLines(stream, ev.groups)
		return
	case "":
		s.plain(stream, text)
	}
	s.emit(stream, text)
}

func (s *session) emit(stream Stream, text string) {
	if s.op.OnLine != nil {
		s.op.OnLine(stream, clipLine(s.red.redact(text)))
	}
}

// emitLines logs a message restic wrapped in JSON, which may span
// several lines, as the lines of its text.
func (s *session) emitLines(stream Stream, text string) {
	for line := range strings.Lines(text) {
		if line = sanitize([]byte(line)); strings.TrimSpace(line) != "" {
			s.emit(stream, line)
		}
	}
}

// plain notes what a text line tells us: old restic versions say in text
// what newer ones say in JSON.
func (s *session) plain(stream Stream, text string) {
	if stream == StreamStderr && strings.TrimSpace(text) != "" {
		if len(s.stderrTail) == maxStderrTail {
			s.stderrTail = append(s.stderrTail[:0], s.stderrTail[1:]...)
		}
		s.stderrTail = append(s.stderrTail, clip(text, 1000))
	}
	switch s.kind {
	case topics.JobBackup:
		if m := missingSourceRE.FindStringSubmatch(text); m != nil {
			if len(s.missingSources) < maxErrors {
				s.missingSources = append(s.missingSources, m[1])
			}
			s.addError(ItemError{Item: m[1], During: "scan", Message: "does not exist, skipped"})
		}
	case topics.JobInit:
		if m := createdRE.FindStringSubmatch(text); m != nil {
			s.res.RepositoryID = m[1]
		}
	case kindCatConfig:
		if m := configIDRE.FindStringSubmatch(text); m != nil {
			s.res.RepositoryID = m[1]
		}
	}
}

func (s *session) addError(e ItemError) {
	if len(s.res.Errors) >= maxErrors {
		s.res.ErrorsOmitted++
		return
	}
	e.Message = s.red.redact(e.Message)
	s.res.Errors = append(s.res.Errors, e)
}

// errorLine is an error message in the words of restic's text output,
// for the log.
func errorLine(e ItemError) string {
	if e.Item == "" || strings.Contains(e.Message, e.Item) {
		return "error: " + e.Message
	}
	return "error: " + e.Item + ": " + e.Message
}

// countRestored counts one item of a restore's verbose output. restic
// does not say whether an item is a folder; the item on disk does (restic
// reports it once it is written, a folder after its contents).
func (s *session) countRestored(v *verboseStatus) {
	c := s.res.Restored
	if c == nil {
		c = new(RestoreCount)
		s.res.Restored = c
	}
	switch v.Action {
	case "restored", "updated":
		if fi, err := os.Lstat(filepath.Join(s.op.Restore.Target, v.Item)); err == nil && fi.IsDir() {
			c.Dirs++
		} else {
			c.Files++
		}
	case "unchanged":
		c.Unchanged++
	}
}

func (s *session) progress(st *statusMsg) {
	if !s.progressDue() {
		return
	}
	now := s.now()
	s.thr.allow(now)
	s.op.OnProgress(progressFrom(s.kind, st, now.Sub(s.start)))
}

// progressDue reports whether a status line now would be passed on.
func (s *session) progressDue() bool {
	return s.op.OnProgress != nil && (s.kind == topics.JobBackup || s.kind == topics.JobRestore) && s.thr.due(s.now())
}

// forgetLines logs forget's JSON document as one readable line per group.
func (s *session) forgetLines(stream Stream, groups []ForgetGroup) {
	verb := "remove"
	if s.op.Forget.DryRun {
		verb = "would remove"
	}
	for _, g := range groups {
		s.emit(stream, fmt.Sprintf("[forget] host %q paths %v tags %v: keep %d %v, %s %d %v",
			g.Host, g.Paths, g.Tags, len(g.Keep), shortIDs(g.Keep), verb, len(g.Remove), shortIDs(g.Remove)))
	}
	if len(groups) == 0 {
		s.emit(stream, "[forget] no snapshots matched")
	}
}

func shortIDs(snaps []Snapshot) []string {
	ids := make([]string, len(snaps))
	for i, sn := range snaps {
		ids[i] = sn.ShortID
	}
	return ids
}

// ending reports what the output said about how restic ended.
func (s *session) ending() (exitMessage string, stderr []string, missingSources []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exit != nil {
		exitMessage = s.exit.Message
	}
	return exitMessage, append([]string(nil), s.stderrTail...), append([]string(nil), s.missingSources...)
}

// result returns a copy of the decoded pieces.
func (s *session) result() Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.res
}

func firstNonNil[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}
