package outbox

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
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

// loaded says what opening a log file found besides its records, and what
// was done about it.
type loaded struct {
	// cut is how many bytes a torn last write left at the end of a file
	// that is appended to; they were cut off.
	cut int64
	// lostTail is how many bytes after the last valid record of a sealed
	// file (never appended to again) were left out: damage, not a torn
	// write.
	lostTail int64
	// damaged are the ranges in the middle of the file (offsets in the
	// damaged file) that were not records while valid records followed.
	damaged []span
	// records is how many records the file kept, after how many of them
	// come after the first damaged range.
	records, after int
	// aside is where the damaged file was kept when it was repaired
	// (empty if it was not).
	aside string
}

// damagedBytes is how many bytes the damaged ranges hold.
func (l loaded) damagedBytes() int64 {
	var n int64
	for _, d := range l.damaged {
		n += d.n
	}
	return n
}

// openLogFile opens path (creating it if it is missing), checks its magic
// and replays its frames through fn. A torn tail, which is what a crash in
// the middle of a write leaves, is cut off so that the next append follows
// valid data. Damage in the middle (invalid bytes with valid records after
// them) is repaired: the valid records are written to a new file, which
// replaces this one, and the damaged file is kept aside (see repairLogFile).
// fn sees each record's offset in the file as it will be afterwards.
func openLogFile(path, magic string, fn func(off int64, typ recType, body []byte) error) (l *logFile, res loaded, err error) {
	_, statErr := os.Stat(path)
	created := os.IsNotExist(statErr)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, res, fmt.Errorf("open %s: %w", path, err)
	}
	l = &logFile{path: path, f: f}
	if err := l.load(magic, fn, &res); err != nil {
		l.f.Close()
		return nil, res, err
	}
	if created {
		if err := syncDir(filepath.Dir(path)); err != nil {
			l.f.Close()
			return nil, res, err
		}
	}
	return l, res, nil
}

func (l *logFile) load(magic string, fn func(int64, recType, []byte) error, res *loaded) error {
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
	rep, err := scanFrames(io.NewSectionReader(l.f, magicLen, size-magicLen), size-magicLen,
		func(off int64, typ recType, body []byte) error { return fn(magicLen+off, typ, body) })
	if err != nil {
		return fmt.Errorf("read %s: %w", l.path, err)
	}
	res.records, res.after, res.damaged = rep.records, rep.after, shift(rep.damaged)
	res.cut = size - magicLen - rep.tail
	if len(rep.damaged) > 0 {
		f, aside, err := repairLogFile(l.f, l.path, magic, rep.kept)
		if err != nil {
			return err
		}
		l.f, l.size, res.aside = f, magicLen+rep.keptBytes(), aside
		return nil
	}
	l.size = magicLen + rep.tail
	if res.cut > 0 {
		if err := l.f.Truncate(l.size); err != nil {
			return fmt.Errorf("cut the torn end of %s: %w", l.path, err)
		}
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", l.path, err)
		}
	}
	return nil
}

// shift turns ranges relative to the first frame into file offsets.
func shift(spans []span) []span {
	out := make([]span, len(spans))
	for i, s := range spans {
		out[i] = span{magicLen + s.off, s.n}
	}
	return out
}

// repairLogFile replaces the damaged file at path with one holding magic
// and the kept frames of src (ranges relative to the first frame), and
// keeps the damaged file as path.damaged-<UTC time> for whoever wants to
// look at it. The new file is written beside path and fsync'd, the damaged
// one linked (or, where links are not possible, copied and fsync'd) aside,
// then the new one renamed over path and the directory fsync'd: a crash at
// any point leaves path either damaged as it was (and repaired again on the
// next open) or repaired. src is closed; the returned file is the new one,
// open for reading and writing.
func repairLogFile(src *os.File, path, magic string, kept []span) (*os.File, string, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, "", fmt.Errorf("repair %s: %w", path, err)
	}
	fail := func(err error) (*os.File, string, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, "", fmt.Errorf("repair %s: %w", path, err)
	}
	w := bufio.NewWriterSize(tmp, 64<<10)
	w.WriteString(magic)
	for _, k := range kept {
		if _, err := io.Copy(w, io.NewSectionReader(src, magicLen+k.off, k.n)); err != nil {
			return fail(err)
		}
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	aside := path + ".damaged-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	if err := keepAside(src, path, aside); err != nil {
		return fail(err)
	}
	src.Close() // Windows cannot rename over an open file.
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		tmp.Close()
		return nil, "", fmt.Errorf("repair %s: %w", path, err)
	}
	return tmp, aside, nil
}

// keepAside makes aside a second name of the file at path, or a copy of it.
func keepAside(src *os.File, path, aside string) error {
	if err := os.Link(path, aside); err == nil {
		return nil
	}
	dst, err := os.OpenFile(aside, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, io.NewSectionReader(src, 0, 1<<62))
	if err == nil {
		err = dst.Sync()
	}
	return firstErr(err, dst.Close())
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
// segment). Such a file was complete when it was sealed, so anything in it
// that is not a record is damage, wherever it is: if there is any, the file
// is repaired as openLogFile repairs damage in the middle. It returns the
// file's size afterwards.
func scanLogFile(path, magic string, fn func(off int64, typ recType, body []byte) error) (size int64, res loaded, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, res, fmt.Errorf("open %s: %w", path, err)
	}
	defer func() { f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return 0, res, fmt.Errorf("stat %s: %w", path, err)
	}
	size = fi.Size()
	if fresh, err := checkMagic(f, path, size, magic); err != nil {
		return 0, res, err
	} else if fresh {
		return size, res, nil
	}
	rep, err := scanFrames(io.NewSectionReader(f, magicLen, size-magicLen), size-magicLen,
		func(off int64, typ recType, body []byte) error { return fn(magicLen+off, typ, body) })
	if err != nil {
		return 0, res, fmt.Errorf("read %s: %w", path, err)
	}
	res.records, res.after, res.damaged = rep.records, rep.after, shift(rep.damaged)
	res.lostTail = size - magicLen - rep.tail
	if len(rep.damaged) == 0 && res.lostTail == 0 {
		return size, res, nil
	}
	repaired, aside, err := repairLogFile(f, path, magic, rep.kept)
	if err != nil {
		return 0, res, err
	}
	f, res.aside = repaired, aside
	return magicLen + rep.keptBytes(), res, nil
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

// damageAttrs describe, for the one log line about it, damage that was
// repaired: where the first damaged range starts, how much was lost and
// kept, and where the damaged file is.
func (l loaded) damageAttrs(path string) []any {
	var at int64
	if len(l.damaged) > 0 {
		at = l.damaged[0].off
	}
	return []any{"file", path, "offset", at, "damaged_bytes", l.damagedBytes() + l.lostTail,
		"damaged_ranges", len(l.damaged), "records_kept", l.records, "records_kept_after_damage", l.after,
		"damaged_copy", l.aside}
}
