package agent

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// drillSample draws a drill's files from a snapshot's listing as it
// streams by: a uniform random sample (reservoir sampling) of the regular
// files that could be restored on their own, so a tree of any size costs
// memory for the sample only.
type drillSample struct {
	want     int
	maxBytes int64
	seen     int // regular files listed
	eligible int // of them, the ones that could be sampled
	pool     []restic.Node
}

func newDrillSample(files int, maxBytes int64) *drillSample {
	return &drillSample{want: files, maxBytes: maxBytes}
}

// offer is Ls's callback: it counts n and may take it into the sample.
func (s *drillSample) offer(n restic.Node) {
	if n.Type != "file" {
		return
	}
	s.seen++
	if !drillable(n, s.maxBytes) {
		return
	}
	s.eligible++
	if len(s.pool) < s.want {
		s.pool = append(s.pool, n)
	} else if k := rand.IntN(s.eligible); k < s.want {
		s.pool[k] = n
	}
}

// drillable reports whether n can be part of a sample: no larger than the
// whole budget, and a path restic's --include takes literally and the
// job spec accepts (no pattern characters, no control characters).
func drillable(n restic.Node, maxBytes int64) bool {
	return n.Size <= uint64(maxBytes) && n.Path != "" && len(n.Path) <= topics.MaxSpecField &&
		utf8.ValidString(n.Path) && !strings.ContainsAny(n.Path, `*?[]\`) &&
		!strings.ContainsFunc(n.Path, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// files is the sample within the byte budget: the pool in random order,
// each file taken while the total stays within maxBytes, sorted by path.
func (s *drillSample) files() []restic.Node {
	pool := slices.Clone(s.pool)
	rand.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	var out []restic.Node
	var total uint64
	for _, n := range pool {
		if total+n.Size <= uint64(s.maxBytes) {
			out = append(out, n)
			total += n.Size
		}
	}
	slices.SortFunc(out, func(a, b restic.Node) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// bytes is the files' total size.
func (s *drillSample) bytes(files []restic.Node) uint64 {
	var total uint64
	for _, n := range files {
		total += n.Size
	}
	return total
}

// drillFindings is a drill's result and, when it failed, the sentence
// naming its first bad file.
type drillFindings struct {
	topics.DrillResult
	firstBad string
}

// bad counts one file that did not restore as it should.
func (f *drillFindings) bad(path, why string) {
	f.Mismatched++
	if len(f.MismatchedPaths) < topics.MaxDrillPaths {
		f.MismatchedPaths = append(f.MismatchedPaths, path)
	}
	if f.firstBad == "" {
		f.firstBad = path + " " + why
	}
}

// compareSample checks each sampled file as restored under scratch: it
// must be there with the snapshot's size, and where the live file is
// unchanged since the snapshot (same size and modification time, before
// and after hashing) the two must have the same SHA-256. A live file that
// changed, is gone or cannot be read is skipped.
func compareSample(scratch string, files []restic.Node, res *restic.Result) drillFindings {
	f := drillFindings{DrillResult: topics.DrillResult{Sampled: len(files)}}
	for _, n := range files {
		restored := filepath.Join(scratch, filepath.FromSlash(n.Path))
		fi, err := os.Lstat(restored)
		switch {
		case err != nil || !fi.Mode().IsRegular():
			f.bad(n.Path, "was not restored ("+restoreError(res, n.Path)+")")
			continue
		case uint64(fi.Size()) != n.Size:
			f.bad(n.Path, fmt.Sprintf("was restored with %d bytes, but the snapshot records %d", fi.Size(), n.Size))
			continue
		}
		f.BytesRestored += n.Size
		live := livePath(n.Path)
		if !unchangedSince(live, n) {
			f.Skipped++
			continue
		}
		liveSum, liveErr := fileSHA256(live)
		if liveErr != nil || !unchangedSince(live, n) {
			f.Skipped++ // unreadable, or changed while it was read
			continue
		}
		sum, err := fileSHA256(restored)
		if err != nil {
			f.bad(n.Path, "was restored but cannot be read back ("+err.Error()+")")
			continue
		}
		f.Compared++
		if sum != liveSum {
			f.bad(n.Path, "differs from the live file, which is unchanged since the snapshot (their SHA-256 differ)")
			continue
		}
		f.Matched++
	}
	return f
}

// restoreError is restic's error about path, or a general word.
func restoreError(res *restic.Result, path string) string {
	for _, e := range res.Errors {
		if e.Item == path || strings.HasSuffix(e.Item, path) {
			return "restic: " + e.Message
		}
	}
	if res.Reason != "" {
		return res.Reason
	}
	return "restic did not write it"
}

// unchangedSince reports whether the live file at path is the one the
// snapshot recorded in n: a regular file of the same size and
// modification time.
func unchangedSince(path string, n restic.Node) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode().IsRegular() && uint64(fi.Size()) == n.Size && fi.ModTime().Equal(n.Mtime)
}

func fileSHA256(path string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// livePath is where a file restic recorded as path lives on this host:
// path itself, or on Windows "/C/Users/x" is C:\Users\x.
func livePath(path string) string {
	if runtime.GOOS == "windows" && len(path) >= 3 && path[0] == '/' && isASCIILetter(path[1]) && path[2] == '/' {
		return path[1:2] + ":" + filepath.FromSlash(path[2:])
	}
	return filepath.FromSlash(path)
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// removeScratch deletes dir and everything in it. restic restores folder
// permissions too, and a read-only folder from the snapshot would stop
// os.RemoveAll: folders are made writable first.
func removeScratch(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
