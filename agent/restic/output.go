package restic

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/restic-manager/restic-manager/topics"
)

const (
	// maxDecodeLine is the longest line kept whole for decoding. The JSON
	// array of `snapshots` is one line; 64 MiB holds about 80,000
	// snapshots. A longer line is dropped with a notice in the log.
	maxDecodeLine = 64 << 20
	// keepBufCap: after a line longer than this, the buffer is released
	// rather than kept at its high-water mark for the rest of the run.
	keepBufCap = 1 << 20
)

// lineWriter splits one output stream of restic into lines and hands each
// to emit, without the newline. os/exec calls Write from one goroutine per
// stream; emit must not keep the slice.
type lineWriter struct {
	stream   Stream
	emit     func(Stream, []byte)
	max      int
	buf      []byte
	dropping bool
	dropped  int
}

func newLineWriter(stream Stream, max int, emit func(Stream, []byte)) *lineWriter {
	return &lineWriter{stream: stream, emit: emit, max: max}
}

// Write never fails: an error here would make os/exec stop reading and
// leave restic blocked on a full pipe.
func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.add(p)
			break
		}
		w.add(p[:i])
		w.endLine()
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) add(p []byte) {
	if w.dropping {
		w.dropped += len(p)
		return
	}
	if len(w.buf)+len(p) > w.max {
		w.dropping, w.dropped = true, len(w.buf)+len(p)
		w.buf = nil
		return
	}
	w.buf = append(w.buf, p...)
}

func (w *lineWriter) endLine() {
	if w.dropping {
		w.emit(w.stream, fmt.Appendf(nil, "[restic printed a line of %d bytes, too long to keep; it was dropped]", w.dropped))
		w.dropping, w.dropped = false, 0
	} else {
		w.emit(w.stream, w.buf)
	}
	if cap(w.buf) > keepBufCap {
		w.buf = nil
	}
	w.buf = w.buf[:0]
}

// flush emits a last line that had no newline.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 || w.dropping {
		w.endLine()
	}
}

// sanitize makes one raw output line fit for a log: what a terminal would
// show after carriage returns, without escape sequences or other control
// characters (tabs stay), as valid UTF-8.
func sanitize(b []byte) string {
	b = bytes.TrimSuffix(b, []byte("\r"))
	if i := bytes.LastIndexByte(b, '\r'); i >= 0 {
		b = b[i+1:]
	}
	var out strings.Builder
	out.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == 0x1b:
			i = skipEscape(b, i)
		case c == '\t' || (c >= 0x20 && c != 0x7f):
			out.WriteByte(c)
		}
	}
	return strings.ToValidUTF8(out.String(), "\uFFFD")
}

// skipEscape returns the index of the last byte of the escape sequence
// starting at b[i] (ESC): CSI "ESC [ ... final", OSC "ESC ] ... BEL or
// ESC \", or ESC plus one byte.
func skipEscape(b []byte, i int) int {
	if i+1 >= len(b) {
		return i
	}
	switch b[i+1] {
	case '[':
		for j := i + 2; j < len(b); j++ {
			if b[j] >= 0x40 && b[j] <= 0x7e {
				return j
			}
		}
		return len(b) - 1
	case ']':
		for j := i + 2; j < len(b); j++ {
			if b[j] == 0x07 {
				return j
			}
			if b[j] == 0x1b && j+1 < len(b) && b[j+1] == '\\' {
				return j + 1
			}
		}
		return len(b) - 1
	}
	return i + 1
}

// clip shortens s to at most n bytes (plus "…"), on a UTF-8 boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// clipLine shortens a log line to topics.MaxLogLine, saying how much was cut.
func clipLine(s string) string {
	if len(s) <= topics.MaxLogLine {
		return s
	}
	return clip(s, topics.MaxLogLine-64) + fmt.Sprintf(" [%d bytes clipped]", len(s)-(topics.MaxLogLine-64))
}
