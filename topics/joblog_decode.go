package topics

import (
	"sync"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// A JobLog decoder that reads the payload once (#15). At 100k log lines a
// second, encoding/json decoding the batches was about a third of the
// server's CPU: its scanner validates the whole payload and then walks it
// again, ~100 MB/s. This one reads the bytes once and builds the same
// JobLog that json.Unmarshal builds, for the agent's shape and everything
// near it: any whitespace, escapes (\uXXXX, surrogate pairs, lone
// surrogates and invalid UTF-8 become U+FFFD as with encoding/json),
// unknown fields holding any JSON value, keys in any ASCII case, a key
// given twice (the last wins), null for a field, times as
// time.Time.UnmarshalJSON reads them.
//
// Anything else it does not handle: it reports false and Decode asks
// encoding/json, which then also gives the error a payload deserves. So
// every rejection, and every corner not read here (a key with an escape
// or a non-ASCII byte, "lines" twice, an empty or null line, a number
// that is negative, fractional, in exponent form or too large, a value
// of the wrong JSON type, more than MaxLogBatchLines lines, nesting deeper
// than maxSkipDepth), is encoding/json's by construction.
// FuzzJobLogDecode holds the two equal.

// maxSkipDepth bounds the nesting of an unknown field's value read here
// (encoding/json allows 10,000; deeper goes to it).
const maxSkipDepth = 64

// jobLogDecoder holds the state of one decode; its scratch slices are kept
// between decodes (jobLogDecoders), bounded by MaxLogBatchLines lines and
// maxScratchBytes.
type jobLogDecoder struct {
	data     []byte
	pos      int
	lines    []LogLine // the batch's lines, copied out at the end
	gotLines bool      // "lines" held an array (lines is the output's)
	buf      []byte    // an escaped string's value
}

const maxScratchBytes = 64 << 10

var jobLogDecoders = sync.Pool{New: func() any { return new(jobLogDecoder) }}

// decodeJobLog decodes data into m as json.Unmarshal would and reports
// true, or reports false and leaves m alone when data is outside what it
// reads (including every payload json.Unmarshal refuses). m must be the
// zero JobLog (encoding/json merges into a non-zero one); otherwise it
// reports false.
func decodeJobLog(data []byte, m *JobLog) bool {
	if m.Envelope != (Envelope{}) || m.Seq != 0 || m.Job != "" || m.First != 0 || m.Lines != nil {
		return false
	}
	d := jobLogDecoders.Get().(*jobLogDecoder)
	d.data, d.pos, d.gotLines = data, 0, false
	var out JobLog
	ok := d.jobLog(&out)
	if ok && d.gotLines {
		out.Lines = make([]LogLine, len(d.lines))
		copy(out.Lines, d.lines)
	}
	clear(d.lines) // let the strings go
	d.data, d.lines = nil, d.lines[:0]
	if cap(d.buf) > maxScratchBytes {
		d.buf = nil
	}
	jobLogDecoders.Put(d)
	if ok {
		*m = out
	}
	return ok
}

// jobLog reads the whole payload: one object, then only whitespace.
func (d *jobLogDecoder) jobLog(m *JobLog) bool {
	d.space()
	if !d.byte('{') {
		return false
	}
	linesSeen := false
	return d.members(func(key []byte) bool {
		switch {
		case keyIs(key, "v"):
			return d.intField(&m.V)
		case keyIs(key, "id"):
			return d.stringField(&m.ID)
		case keyIs(key, "type"):
			return d.stringField(&m.Type)
		case keyIs(key, "ts"):
			return d.timeField(&m.TS)
		case keyIs(key, "host"):
			return d.stringField(&m.Host)
		case keyIs(key, "seq"):
			return d.uintField(&m.Seq)
		case keyIs(key, "job"):
			return d.stringField(&m.Job)
		case keyIs(key, "first"):
			return d.uintField(&m.First)
		case keyIs(key, "lines"):
			// A second "lines" decodes into the first's elements with
			// encoding/json (it reuses them without zeroing): not here.
			ok := !linesSeen && d.linesField()
			linesSeen = true
			return ok
		}
		return d.skip(0)
	}) && d.end()
}

// members reads an object's members, its '{' already read, calling member
// with each key to read the value that follows.
func (d *jobLogDecoder) members(member func(key []byte) bool) bool {
	d.space()
	if d.byte('}') {
		return true
	}
	for {
		key, ok := d.key()
		if !ok || !member(key) {
			return false
		}
		if more, ok := d.next('}'); !ok || !more {
			return ok
		}
	}
}

// linesField reads the value of "lines": null, or an array of one to
// MaxLogBatchLines line objects, into d.lines.
func (d *jobLogDecoder) linesField() bool {
	if d.null() {
		return true
	}
	if !d.byte('[') {
		return false
	}
	d.space()
	if d.byte(']') {
		return false // encoding/json makes it empty, not nil; Validate refuses it anyway
	}
	d.lines, d.gotLines = d.lines[:0], true
	for {
		if len(d.lines) == MaxLogBatchLines || !d.byte('{') {
			return false
		}
		d.lines = append(d.lines, LogLine{})
		if !d.logLine(&d.lines[len(d.lines)-1]) {
			return false
		}
		if more, ok := d.next(']'); !ok {
			return false
		} else if !more {
			return true
		}
	}
}

// logLine reads one line object, its '{' already read.
func (d *jobLogDecoder) logLine(l *LogLine) bool {
	return d.members(func(key []byte) bool {
		switch {
		case keyIs(key, "t"):
			return d.timeField(&l.T)
		case keyIs(key, "s"):
			return d.stringField(&l.Stream)
		case keyIs(key, "x"):
			return d.stringField(&l.Text)
		}
		return d.skip(0)
	})
}

// keyIs reports whether key names the field name (lowercase ASCII) as
// encoding/json matches keys: exactly or ignoring ASCII case. key holds
// only ASCII (d.key).
func keyIs(key []byte, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

// space skips JSON whitespace.
func (d *jobLogDecoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// byte consumes c if it is next.
func (d *jobLogDecoder) byte(c byte) bool {
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

// next reads what follows a member or element: a comma (more follow) or
// the closing byte, with whitespace around.
func (d *jobLogDecoder) next(closing byte) (more, ok bool) {
	d.space()
	if d.byte(',') {
		d.space()
		return true, true
	}
	return false, d.byte(closing)
}

// end reports whether only whitespace is left.
func (d *jobLogDecoder) end() bool {
	d.space()
	return d.pos == len(d.data)
}

// key reads an object key and the colon after it. A key with an escape or
// a byte beyond ASCII is not read here: encoding/json unescapes it and
// folds Unicode case (the long s "ſ" matches "s").
func (d *jobLogDecoder) key() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start := d.pos
	for d.pos < len(d.data) && plainByte[d.data[d.pos]] {
		d.pos++
	}
	if !d.byte('"') {
		return nil, false
	}
	key := d.data[start : d.pos-1]
	d.space()
	if !d.byte(':') {
		return nil, false
	}
	d.space()
	return key, true
}

// null consumes a null literal if it is next.
func (d *jobLogDecoder) null() bool { return d.literal("null") }

func (d *jobLogDecoder) literal(s string) bool {
	if len(d.data)-d.pos >= len(s) && string(d.data[d.pos:d.pos+len(s)]) == s {
		d.pos += len(s)
		return true
	}
	return false
}

// stringField reads a string or null (which leaves *p as it is).
func (d *jobLogDecoder) stringField(p *string) bool {
	if d.null() {
		return true
	}
	raw, plainOnly, ok := d.scanString()
	if !ok {
		return false
	}
	if plainOnly {
		*p = internString(raw)
		return true
	}
	*p = d.unquote(raw)
	return true
}

// internString returns the constant for the few values every batch repeats, a
// new string for the rest.
func internString(b []byte) string {
	switch string(b) {
	case StreamStdout:
		return StreamStdout
	case StreamStderr:
		return StreamStderr
	case StreamAgent:
		return StreamAgent
	case TypeJobLog:
		return TypeJobLog
	}
	return string(b)
}

// timeField reads a time as encoding/json does, by time.Time's
// UnmarshalJSON on the literal (it reads a string without unescaping it,
// and null as nothing); a value of another type is not read here.
func (d *jobLogDecoder) timeField(t *time.Time) bool {
	if d.null() {
		return true
	}
	start := d.pos
	if _, _, ok := d.scanString(); !ok {
		return false
	}
	return t.UnmarshalJSON(d.data[start:d.pos]) == nil
}

// uintField reads a non-negative integer without fraction or exponent that
// fits a uint64, or null (which leaves *p as it is).
func (d *jobLogDecoder) uintField(p *uint64) bool {
	if d.null() {
		return true
	}
	v, ok := d.digits()
	if ok {
		*p = v
	}
	return ok
}

// intField is uintField for an int.
func (d *jobLogDecoder) intField(p *int) bool {
	if d.null() {
		return true
	}
	v, ok := d.digits()
	if !ok || v > uint64(maxInt) {
		return false
	}
	*p = int(v)
	return true
}

const maxInt = int(^uint(0) >> 1)

// digits reads a JSON number that is a non-negative integer (0, or 1-9
// then digits) fitting a uint64 and not followed by a fraction or an
// exponent.
func (d *jobLogDecoder) digits() (uint64, bool) {
	if d.pos >= len(d.data) {
		return 0, false
	}
	var v uint64
	switch c := d.data[d.pos]; {
	case c == '0':
		d.pos++
	case '1' <= c && c <= '9':
		for d.pos < len(d.data) {
			c := d.data[d.pos]
			if c < '0' || c > '9' {
				break
			}
			n := uint64(c - '0')
			if v > (^uint64(0)-n)/10 {
				return 0, false
			}
			v = v*10 + n
			d.pos++
		}
	default:
		return 0, false
	}
	if d.pos < len(d.data) {
		if c := d.data[d.pos]; c == '.' || c == 'e' || c == 'E' {
			return 0, false
		}
	}
	return v, true
}

// plainByte marks the bytes a string holds as they are: printable ASCII but
// the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString reads a string, checking it as encoding/json's scanner does
// (no control byte, only its escapes), and returns its bytes between the
// quotes; plainOnly reports that they are its value as they are (printable
// ASCII, no escape).
func (d *jobLogDecoder) scanString() (raw []byte, plainOnly, ok bool) {
	if !d.byte('"') {
		return nil, false, false
	}
	data, i := d.data, d.pos
	start := i
	plainOnly = true
	for {
		for i < len(data) && plainByte[data[i]] {
			i++
		}
		if i >= len(data) {
			return nil, false, false
		}
		switch c := data[i]; {
		case c == '"':
			d.pos = i + 1
			return data[start:i], plainOnly, true
		case c == '\\':
			plainOnly = false
			if i+1 >= len(data) {
				return nil, false, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || hex4(data[i+2:i+6]) < 0 {
					return nil, false, false
				}
				i += 6
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default: // beyond ASCII: checked as UTF-8 by unquote
			plainOnly = false
			i++
		}
	}
}

// hex4 decodes four hex digits, or returns -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// unquote returns the value of a string's bytes (checked by scanString)
// as encoding/json's unquote does: escapes decoded, a surrogate pair
// joined, a lone surrogate and each byte of invalid UTF-8 replaced by
// U+FFFD.
func (d *jobLogDecoder) unquote(raw []byte) string {
	i := 0
	for i < len(raw) && raw[i] != '\\' {
		i++
	}
	if i == len(raw) && utf8.Valid(raw) {
		return string(raw)
	}
	b := d.buf[:0]
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			switch e := raw[i+1]; e {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(raw[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						r2 = hex4(raw[i+2:])
					}
					if pair := utf16.DecodeRune(r, r2); pair != unicode.ReplacementChar {
						i += 6
						r = pair
					} else {
						r = unicode.ReplacementChar
					}
				}
				b = utf8.AppendRune(b, r)
				continue
			default: // '"', '\\', '/'
				b = append(b, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			j := i + 1
			for j < len(raw) && raw[j] < utf8.RuneSelf && raw[j] != '\\' {
				j++
			}
			b = append(b, raw[i:j]...)
			i = j
		default:
			r, n := utf8.DecodeRune(raw[i:])
			b = utf8.AppendRune(b, r)
			i += n
		}
	}
	d.buf = b
	return string(b)
}

// skip reads a value of a field not in JobLog, checking it as encoding/json's
// scanner does.
func (d *jobLogDecoder) skip(depth int) bool {
	if d.pos >= len(d.data) || depth > maxSkipDepth {
		return false
	}
	switch c := d.data[d.pos]; {
	case c == '"':
		_, _, ok := d.scanString()
		return ok
	case c == '{':
		d.pos++
		d.space()
		if d.byte('}') {
			return true
		}
		for {
			if _, _, ok := d.scanString(); !ok {
				return false
			}
			d.space()
			if !d.byte(':') {
				return false
			}
			d.space()
			if !d.skip(depth + 1) {
				return false
			}
			if more, ok := d.next('}'); !ok || !more {
				return ok
			}
		}
	case c == '[':
		d.pos++
		d.space()
		if d.byte(']') {
			return true
		}
		for {
			if !d.skip(depth + 1) {
				return false
			}
			if more, ok := d.next(']'); !ok || !more {
				return ok
			}
		}
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.null()
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	}
	return false
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *jobLogDecoder) number() bool {
	d.byte('-')
	if !d.byte('0') && !d.someDigits() {
		return false
	}
	if d.byte('.') && !d.someDigits() {
		return false
	}
	if d.byte('e') || d.byte('E') {
		if !d.byte('+') {
			d.byte('-')
		}
		return d.someDigits()
	}
	return true
}

// someDigits reads one or more decimal digits.
func (d *jobLogDecoder) someDigits() bool {
	start := d.pos
	for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
		d.pos++
	}
	return d.pos > start
}
