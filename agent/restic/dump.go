package restic

import (
	"fmt"
	"io"
	"strings"

	"github.com/restic-manager/restic-manager/topics"
)

// Downloads (#14) run through Browse like the other queries: first `restic
// ls --json SNAPSHOT PATH`, read until the node of PATH itself (StatNode:
// its type and size), then `restic dump` (DumpArgs), whose standard output
// is the file or the folder's archive, copied to the upload as it comes.

// DumpQuery says what a download dumps.
type DumpQuery struct {
	// Snapshot is a snapshot ID (8 to 64 hex digits) or "latest"; Path
	// is the absolute path of a file or folder in it, as restic names it
	// (slashes; a Windows drive is /C/...).
	Snapshot string
	Path     string
	// Archive packs a folder: "tar" or "zip" (restic 0.12+); empty for a
	// file. A file comes as itself whatever it says.
	Archive string
	// Reroot puts a folder's entries under its own name ("docs/a.txt")
	// instead of its whole path ("home/ada/docs/a.txt"), through restic's
	// SNAPSHOT:SUBFOLDER syntax (restic 0.16+).
	Reroot bool
	// Bandwidth caps the repository's download (--limit-download).
	Bandwidth topics.Bandwidth
}

// StatArgs is `restic ls --json [--limit-download=N] -- SNAPSHOT PATH`.
func StatArgs(q DumpQuery) ([]string, error) {
	if err := checkDumpQuery(q); err != nil {
		return nil, err
	}
	return append(limitArgs([]string{"ls", "--json"}, q.Bandwidth), "--", q.Snapshot, q.Path), nil
}

// DumpArgs is `restic dump [--archive=zip] [--limit-download=N] --
// SNAPSHOT[:PARENT] PATH`.
func DumpArgs(q DumpQuery) ([]string, error) {
	if err := checkDumpQuery(q); err != nil {
		return nil, err
	}
	args := []string{"dump"}
	if q.Archive != "" {
		args = append(args, "--archive="+q.Archive)
	}
	snap, target := q.Snapshot, q.Path
	if q.Reroot {
		snap, target = rerooted(q.Snapshot, q.Path)
	}
	return append(limitArgs(args, q.Bandwidth), "--", snap, target), nil
}

func limitArgs(args []string, b topics.Bandwidth) []string {
	if b.DownKBps > 0 {
		args = append(args, fmt.Sprintf("--limit-download=%d", b.DownKBps))
	}
	return args
}

// checkDumpQuery checks what the wire's rules (topics.CheckDumpRequest)
// let through and restic needs besides: the path in restic's form.
func checkDumpQuery(q DumpQuery) error {
	switch {
	case topics.CheckSnapshotRef(q.Snapshot) != nil:
		return fmt.Errorf("%w (dump): snapshot %q is not a snapshot ID or \"latest\"", ErrInvalidOp, clip(q.Snapshot, 80))
	case topics.CheckBrowsePath(q.Path) != nil || !strings.HasPrefix(q.Path, "/"):
		return fmt.Errorf("%w (dump): path %q is not an absolute path in the snapshot", ErrInvalidOp, clip(q.Path, 80))
	case q.Archive != "" && q.Archive != "tar" && q.Archive != "zip":
		return fmt.Errorf("%w (dump): archive %q is not tar or zip", ErrInvalidOp, clip(q.Archive, 20))
	}
	return nil
}

// rerooted splits path for restic's SNAPSHOT:SUBFOLDER syntax, so that a
// folder's archive holds it under its own name: /home/ada/docs becomes
// (snap:/home/ada, /docs). A path right under the root needs no
// subfolder.
func rerooted(snap, path string) (string, string) {
	i := strings.LastIndex(path, "/")
	if i <= 0 {
		return snap, path
	}
	return snap + ":" + path[:i], path[i:]
}

// StatNode reads `restic ls --json SNAPSHOT PATH` until the node of path
// itself, which restic prints first (a folder's children follow), and
// returns it with ErrEnough, so that Browse stops restic there; nil and
// no error when the snapshot has nothing at path.
func StatNode(r io.Reader, path string) (*Node, error) {
	var found *Node
	err := scanLines(r, func(line []byte) bool {
		n, ok := decodeLsNode(line)
		if !ok {
			return true
		}
		if n.Path == path {
			found = &n
			return false
		}
		return true
	})
	return found, err // ErrEnough once found
}
