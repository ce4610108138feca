package outbox

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// logFile is one append-only file of frames behind a magic header: the
// active outbox segment, the ack file, the journal. Every append is written
// at the end and fsync'd before it returns. It is not safe for concurrent
// use; its owner holds a lock.
type logFile struct {
	path string
	f    *os.File
	size int64
	// broken is set when the file's state on disk is no longer known (a
	// failed fsync, or a failed cut after a failed write): nothing more is
	// appended until the file is reopened and checked.
	broken error
}

// openLogFile opens path (creating it if it is missing), checks its magic
// and replays its frames through fn. A torn or damaged tail, which is what a
// crash in the middle of a write leaves, is cut off so that the next append
// follows valid data; cut is how many bytes went.
func openLogFile(path, magic string, fn func(off int64, typ recType, body []byte) error) (l *logFile, cut int64, err error) {
	_, statErr := os.Stat(path)
	created := os.IsNotExist(statErr)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", path, err)
	}
	l = &logFile{path: path, f: f}
	if err := l.load(magic, fn, &cut); err != nil {
		f.Close()
		return nil, 0, err
	}
	if created {
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, 0, err
		}
	}
	return l, cut, nil
}

func (l *logFile) load(magic string, fn func(int64, recType, []byte) error, cut *int64) error {
	fi, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", l.path, err)
	}
	size := fi.Size()
	fresh, err := checkMagic(l.f, l.path, size, magic)
	if err != nil {
		return err
	}
	if fresh {
		// Empty, or a header torn by a crash while the file was created:
		// nothing was ever stored in it.
		l.size = 0
		if err := l.f.Truncate(0); err != nil {
			return fmt.Errorf("reset %s: %w", l.path, err)
		}
		return l.append([]byte(magic))
	}
	end, err := scanFrames(io.NewSectionReader(l.f, magicLen, size-magicLen), size-magicLen,
		func(off int64, typ recType, body []byte) error { return fn(magicLen+off, typ, body) })
	if err != nil {
		return fmt.Errorf("read %s: %w", l.path, err)
	}
	l.size = magicLen + end
	if l.size < size {
		*cut = size - l.size
		if err := l.f.Truncate(l.size); err != nil {
			return fmt.Errorf("cut the torn end of %s: %w", l.path, err)
		}
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", l.path, err)
		}
	}
	return nil
}

// checkMagic reports whether the file is fresh (empty or a torn header) and
// fails if it starts with anything but magic.
func checkMagic(f *os.File, path string, size int64, magic string) (fresh bool, err error) {
	n := min(size, magicLen)
	head := make([]byte, n)
	if _, err := f.ReadAt(head, 0); err != nil && err != io.EOF {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	if !strings.HasPrefix(magic, string(head)) {
		return false, fmt.Errorf("%s does not start with the %q header this agent writes: it was damaged "+
			"or put there by something else; move it out of %s and restart the agent (entries in it will "+
			"not be delivered)", path, magic, filepath.Dir(path))
	}
	return n < magicLen, nil
}

// scanLogFile replays a file that is not appended to any more (a sealed
// segment) without repairing it: it returns the valid prefix's length and
// the file's size.
func scanLogFile(path, magic string, fn func(off int64, typ recType, body []byte) error) (end, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("stat %s: %w", path, err)
	}
	size = fi.Size()
	if fresh, err := checkMagic(f, path, size, magic); err != nil {
		return 0, 0, err
	} else if fresh {
		return 0, size, nil
	}
	end, err = scanFrames(io.NewSectionReader(f, magicLen, size-magicLen), size-magicLen,
		func(off int64, typ recType, body []byte) error { return fn(magicLen+off, typ, body) })
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", path, err)
	}
	return magicLen + end, size, nil
}

// createLogFile makes a new file holding only magic, durable (file and
// directory fsync'd) before it returns. It refuses to overwrite a file.
func createLogFile(path, magic string) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	l := &logFile{path: path, f: f}
	if err := l.append([]byte(magic)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// append writes b at the end and fsyncs. On failure the end is cut back so
// a partial frame cannot hide later appends from the next open.
func (l *logFile) append(b []byte) error {
	if l.broken != nil {
		return l.broken
	}
	_, werr := l.f.WriteAt(b, l.size)
	var serr error
	if werr == nil {
		serr = l.f.Sync()
	}
	if werr == nil && serr == nil {
		l.size += int64(len(b))
		return nil
	}
	terr := l.f.Truncate(l.size)
	if serr != nil || terr != nil {
		// After a failed fsync the kernel may have dropped the dirty pages
		// and forgotten the error: only a reopen, which rereads and checks
		// the file, tells what is really on disk.
		l.broken = fmt.Errorf("%s is unusable after a failed write (%v); restart the agent so it "+
			"rereads and checks the file", l.path, firstErr(werr, serr))
	}
	return fmt.Errorf("write %s: %w", l.path, firstErr(werr, serr))
}

// rewrite replaces the file's frames with frames, atomically: a temporary
// file is written and fsync'd, renamed over the file, and the directory
// fsync'd. A crash leaves either the old file or the new one.
func (l *logFile) rewrite(magic string, frames [][]byte) error {
	if l.broken != nil {
		return l.broken
	}
	dir := filepath.Dir(l.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(l.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", l.path, err)
	}
	t := &logFile{path: tmp.Name(), f: tmp}
	buf := []byte(magic)
	for _, fr := range frames {
		buf = append(buf, fr...)
	}
	if err := t.append(buf); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("rewrite %s: %w", l.path, err)
	}
	// Windows cannot rename over an open file.
	l.f.Close()
	if err := os.Rename(tmp.Name(), l.path); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return l.reopen(fmt.Errorf("rewrite %s: %w", l.path, err))
	}
	l.f, l.size = tmp, t.size
	if err := syncDir(dir); err != nil {
		l.broken = fmt.Errorf("%s: rewritten but not durable (%v); restart the agent", l.path, err)
		return l.broken
	}
	return nil
}

// reopen reopens the (unchanged) file after a failed rewrite and returns
// cause.
func (l *logFile) reopen(cause error) error {
	f, err := os.OpenFile(l.path, os.O_RDWR, 0o600)
	if err != nil {
		l.broken = fmt.Errorf("%s could not be reopened (%v); restart the agent", l.path, err)
		return cause
	}
	l.f = f
	return cause
}

func (l *logFile) close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// syncDir makes file creations, renames and removals in dir durable.
// Windows cannot open a directory for fsync and does not need it.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s for fsync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
