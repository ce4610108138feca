package restic

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/restic-manager/restic-manager/topics"
)

// Decoders of the browsing commands' JSON (restic 0.15 to 0.18 print the
// same shapes; testdata/browse holds real 0.18.1 output). Each reads a
// stream and keeps at most its cap in memory: ls and diff print one JSON
// object per line, find one JSON array (on one line) of one object per
// snapshot whose matches come before the snapshot's id.

// maxBrowseLine bounds one line of ls or diff output; a longer line (a
// path restic could not have stored) is skipped.
const maxBrowseLine = 64 << 10

// Listing is one folder as `restic ls --json SNAP DIR` shows it: the
// folder's own node (nil when the snapshot has no such path, or for "/"),
// its children in restic's order (at most the cap given to ScanLs) and how
// many children it has in all.
type Listing struct {
	Self     *Node
	Children []Node
	Total    int
}

// ScanLs reads `restic ls --json SNAP DIR` for the folder dir (a clean
// slash path) and keeps at most max of its children. restic prints the
// folder itself, then its children (recursing only with --recursive; a
// node deeper down is ignored anyway). A child whose name is unusable (not
// UTF-8, empty, "." or "..", a slash in it) or whose type is unknown is
// left out.
func ScanLs(r io.Reader, dir string, max int) (*Listing, error) {
	l := &Listing{}
	err := scanLines(r, func(line []byte) bool {
		n, ok := decodeLsNode(line)
		if !ok {
			return true
		}
		switch {
		case n.Path == dir:
			l.Self = &n
		case path.Dir(n.Path) == dir && usableName(n.Name) && slices.Contains(topics.NodeTypes, n.Type) && n.Size <= topics.MaxStatsValue:
			l.Total++
			if len(l.Children) < max {
				l.Children = append(l.Children, n)
			}
		}
		return true
	})
	return l, err
}

// decodeLsNode decodes one line of `restic ls --json` if it is a node
// (message_type "node" since restic 0.17, struct_type "node" before).
func decodeLsNode(line []byte) (Node, bool) {
	var head struct {
		MessageType string `json:"message_type"`
		StructType  string `json:"struct_type"`
	}
	var n Node
	if json.Unmarshal(line, &head) != nil || firstNonEmpty(head.MessageType, head.StructType) != "node" || json.Unmarshal(line, &n) != nil {
		return Node{}, false
	}
	return n, true
}

func usableName(n string) bool {
	return n != "" && n != "." && n != ".." && len(n) <= topics.MaxEntryName && utf8.ValidString(n) && !strings.ContainsAny(n, "/\x00")
}

// findMatch is one match of `restic find --json`.
type findMatch struct {
	Path  string    `json:"path"`
	Type  string    `json:"type"`
	Size  uint64    `json:"size"`
	MTime time.Time `json:"mtime"`
}

// ScanFind reads `restic find --json` and returns at most max matches, in
// restic's order, each naming its snapshot. Once it holds max and has seen
// one more, it finishes the snapshot it is in (whose id comes after its
// matches) and returns ErrEnough with truncated set; the caller stops
// restic. A match with a path or type the wire refuses is left out.
func ScanFind(r io.Reader, max int) (matches []topics.FindMatch, truncated bool, err error) {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err == io.EOF {
		return nil, false, nil // restic printed nothing: no snapshots
	}
	if err != nil || tok != json.Delim('[') {
		return nil, false, errors.New("restic find: the output is not a JSON array")
	}
	for dec.More() {
		var snap string
		var buf []findMatch
		if err := expectDelim(dec, '{'); err != nil {
			return matches, truncated, err
		}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return matches, truncated, fmt.Errorf("restic find: %w", err)
			}
			switch key {
			case "matches":
				if err := expectDelim(dec, '['); err != nil {
					return matches, truncated, err
				}
				for dec.More() {
					var m findMatch
					if err := dec.Decode(&m); err != nil {
						return matches, truncated, fmt.Errorf("restic find: %w", err)
					}
					if len(matches)+len(buf) < max {
						buf = append(buf, m)
					} else {
						truncated = true
					}
				}
				if err := expectDelim(dec, ']'); err != nil {
					return matches, truncated, err
				}
			case "snapshot":
				if err := dec.Decode(&snap); err != nil {
					return matches, truncated, fmt.Errorf("restic find: %w", err)
				}
			default:
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return matches, truncated, fmt.Errorf("restic find: %w", err)
				}
			}
		}
		if err := expectDelim(dec, '}'); err != nil {
			return matches, truncated, err
		}
		for _, m := range buf {
			fm := topics.FindMatch{Snapshot: snap, Path: m.Path, Type: m.Type, Size: m.Size, MTime: m.MTime}
			if (&topics.FindResult{Matches: []topics.FindMatch{fm}}).Validate() == nil {
				matches = append(matches, fm)
			}
		}
		if truncated {
			return matches, true, ErrEnough
		}
	}
	return matches, false, expectDelim(dec, ']')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("restic find: %w", err)
	}
	if tok != want {
		return fmt.Errorf("restic find: unexpected %v in the output, want %v", tok, want)
	}
	return nil
}

// diffLine is one line of `restic diff --json`: a change or the statistics.
type diffLine struct {
	MessageType  string             `json:"message_type"`
	Path         string             `json:"path"`
	Modifier     string             `json:"modifier"`
	ChangedFiles int64              `json:"changed_files"`
	Added        topics.DiffCounted `json:"added"`
	Removed      topics.DiffCounted `json:"removed"`
}

// ScanDiff reads `restic diff --json` and keeps at most max changes
// (Truncated when there were more) and the statistics restic ends with. It
// reads to the end (the statistics come last); memory stays bounded.
func ScanDiff(r io.Reader, max int) (*topics.DiffResult, error) {
	d := &topics.DiffResult{Changes: []topics.DiffChange{}}
	err := scanLines(r, func(line []byte) bool {
		var l diffLine
		if json.Unmarshal(line, &l) != nil {
			return true
		}
		switch l.MessageType {
		case "change":
			c := topics.DiffChange{Path: l.Path, Modifier: l.Modifier}
			if (&topics.DiffResult{Changes: []topics.DiffChange{c}}).Validate() != nil {
				return true
			}
			if len(d.Changes) < max {
				d.Changes = append(d.Changes, c)
			} else {
				d.Truncated = true
			}
		case "statistics":
			s := &topics.DiffStats{ChangedFiles: l.ChangedFiles, Added: l.Added, Removed: l.Removed}
			if (&topics.DiffResult{Stats: s}).Validate() == nil {
				d.Stats = s
			}
		}
		return true
	})
	return d, err
}

// scanLines calls fn with each line of r (without the newline); a line
// longer than maxBrowseLine is skipped. fn returns false to stop, and
// scanLines then returns ErrEnough.
func scanLines(r io.Reader, fn func([]byte) bool) error {
	br := bufio.NewReaderSize(r, maxBrowseLine)
	skipping := false
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			skipping = true
			continue
		case skipping:
			skipping = false // the end of an overlong line
		default:
			if line = bytes.TrimSpace(line); len(line) > 0 && !fn(line) {
				return ErrEnough
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("restic: reading its output: %w", err)
		}
	}
}
