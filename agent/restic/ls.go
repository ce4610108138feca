package restic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// kindLs is the internal operation that lists a snapshot's tree (`restic
// ls --json`); it is no job kind of its own.
const kindLs topics.JobKind = "ls"

// Node is one entry of a snapshot's tree as `restic ls --json` prints it
// (restic 0.9.3+; "message_type":"node" since 0.17, "struct_type" before).
type Node struct {
	Name  string    `json:"name"`
	Type  string    `json:"type"` // "file", "dir", "symlink", "dev", ...
	Path  string    `json:"path"` // as stored: "/home/a/x" (Windows: "/C/Users/a/x")
	Size  uint64    `json:"size"`
	Mtime time.Time `json:"mtime"`
}

// LsQuery says which snapshot's tree Ls lists, from which repository.
type LsQuery struct {
	Repository Repository
	Bandwidth  topics.Bandwidth
	// Snapshot is a snapshot ID (8 to 64 hex digits) or "latest"; Host
	// and Tags narrow down which snapshot "latest" is (--host, --tag: one
	// flag each, a snapshot must carry every tag of one flag).
	Snapshot string
	Host     string
	Tags     []string
	// OnStart and OnLine are Op's: restic's argv once it started, and its
	// lines other than the listing itself (warnings, errors).
	OnStart func(args []string)
	OnLine  func(stream Stream, line string)
}

// ErrLsOutput marks a listing restic printed that is not the JSON of
// `restic ls --json` (a restic that does not know --json prints text).
var ErrLsOutput = errors.New("restic ls printed no JSON listing")

// Ls runs `restic ls --json` for q and hands each node of the snapshot's
// tree to onNode as it is printed, so a tree of millions of files is never
// held in memory. The snapshot restic listed is Result.Snapshots[0]. As
// with Run, the error is non-nil only when restic could not run (invalid
// query, missing binary); what restic reports is in the Result. A restic
// that printed a tree but no snapshot line (or nothing it could decode)
// succeeded in vain: Outcome is failed, and the reason wraps ErrLsOutput's
// words.
func (r *Runner) Ls(ctx context.Context, q LsQuery, onNode func(Node)) (*Result, error) {
	args, err := lsArgs(q)
	if err != nil {
		return nil, err
	}
	path, err := r.binaryPath()
	if err != nil {
		return nil, err
	}
	var snap *Snapshot
	op := Op{Kind: kindLs, Repository: q.Repository, Bandwidth: q.Bandwidth, OnStart: q.OnStart, OnLine: q.OnLine}
	stdoutLine := func(line []byte) bool {
		var head struct {
			MessageType string `json:"message_type"`
			StructType  string `json:"struct_type"`
		}
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &head) != nil {
			return false
		}
		switch firstNonEmpty(head.MessageType, head.StructType) {
		case "snapshot":
			var s Snapshot
			if json.Unmarshal(line, &s) == nil && topics.ValidResticID(s.ID) && snap == nil {
				snap = &s
			}
			return true
		case "node":
			var n Node
			if json.Unmarshal(line, &n) == nil && n.Path != "" {
				onNode(n)
			}
			return true
		}
		return false
	}
	res, err := r.runReading(ctx, op, kindLs, path, args, stdoutLine)
	if err != nil {
		return nil, err
	}
	if snap != nil {
		res.Snapshots = []Snapshot{*snap}
	} else if res.Outcome == OutcomeSucceeded {
		res.Outcome, res.Reason = OutcomeFailed, ErrLsOutput.Error()+": this restic is too old for it (restic 0.9.3 or newer lists a snapshot as JSON)"
	}
	r.logger().Info("restic finished", "kind", kindLs, "outcome", res.Outcome, "exit_code", res.ExitCode,
		"reason", res.Reason, "duration", res.Duration.Round(time.Millisecond))
	return res, nil
}

// lsArgs is `restic ls --json [--host=H] [--tag=T]... -- SNAPSHOT`, after
// checking the query.
func lsArgs(q LsQuery) ([]string, error) {
	var problems []string
	if err := (Op{Kind: topics.JobSnapshots, Repository: q.Repository, Bandwidth: q.Bandwidth}).Validate(); err != nil {
		problems = append(problems, strings.TrimPrefix(err.Error(), fmt.Sprintf("%s (%s): ", ErrInvalidOp, topics.JobSnapshots)))
	}
	if q.Snapshot != "latest" && !topics.ValidResticID(q.Snapshot) {
		problems = append(problems, fmt.Sprintf("snapshot %q is not a snapshot ID or \"latest\"", clip(q.Snapshot, 80)))
	}
	bad := func(s string) bool {
		return s == "" || len(s) > 255 || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ',' })
	}
	if q.Host != "" && (bad(q.Host) || strings.Contains(q.Host, " ")) {
		problems = append(problems, fmt.Sprintf("host %q is not valid: use up to 255 characters without spaces or commas", clip(q.Host, 80)))
	}
	for _, t := range q.Tags {
		if bad(t) {
			problems = append(problems, fmt.Sprintf("tag %q is not valid: use up to 255 characters without commas", clip(t, 80)))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w (%s): %s", ErrInvalidOp, kindLs, strings.Join(problems, "; "))
	}
	args := []string{"ls", "--json"}
	if q.Bandwidth.DownKBps > 0 {
		args = append(args, fmt.Sprintf("--limit-download=%d", q.Bandwidth.DownKBps))
	}
	if q.Host != "" {
		args = append(args, "--host="+q.Host)
	}
	args = appendEach(args, "--tag=", q.Tags)
	return append(args, "--", q.Snapshot), nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
