package server

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unsafe"

	"github.com/restic-manager/restic-manager/topics"
)

// A job's log is stored one chunk per log batch (job_log_chunks,
// migrations/0015_job_log_chunks.sql): the consecutive lines
// first_n..last_n, the time of the first, and a body holding every line as
// [offset, stream, text] in a JSON array, offset being the line's time in
// microseconds after t_first. JSON because both engines can write it in
// SQL (the migration converts the old rows with json_group_array and
// json_agg) and read it by eye; an array per line because field names
// would double the size of a short line.

// logChunkPrecision is how precisely a stored line keeps its time (what
// PostgreSQL keeps of a timestamp): both engines give the same back.
const logChunkPrecision = time.Microsecond

// logChunk is one row of job_log_chunks.
type logChunk struct {
	First  uint64    `db:"first_n"`
	Last   uint64    `db:"last_n"`
	TFirst time.Time `db:"t_first"`
	Body   string    `db:"body"`
}

// encodeLogChunk makes the row of lines numbered from first.
func encodeLogChunk(first uint64, lines []topics.LogLine) logChunk {
	base := lines[0].T.UTC().Truncate(logChunkPrecision)
	size := 2
	for _, l := range lines {
		size += len(l.Text) + len(l.Stream) + 16
	}
	b := make([]byte, 0, size)
	b = append(b, '[')
	for i, l := range lines {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(l.T.Truncate(logChunkPrecision).Sub(base)/logChunkPrecision), 10)
		b = append(b, ',')
		b = appendJSONString(b, l.Stream)
		b = append(b, ',')
		b = appendJSONString(b, l.Text)
		b = append(b, ']')
	}
	b = append(b, ']')
	// The body is b itself, not a copy (as strings.Builder's String is):
	// nothing writes b after this, and a copy was an eighth of the bytes
	// an ingest allocates (docs/scale.md, "ingest and the API").
	return logChunk{First: first, Last: first + uint64(len(lines)) - 1, TFirst: base, Body: unsafe.String(unsafe.SliceData(b), len(b))}
}

// appendJSONString appends s as a JSON string. s is valid UTF-8
// (topics.JobLog.Validate); only the quote, the backslash and control
// characters need escaping.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// chunkLine is one line of a chunk's body.
type chunkLine struct {
	offset       int64
	stream, text string
}

// UnmarshalJSON reads [offset, stream, text].
func (c *chunkLine) UnmarshalJSON(data []byte) error {
	var a [3]json.RawMessage
	if err := json.Unmarshal(data, &a); err != nil {
		return err
	}
	if err := json.Unmarshal(a[0], &c.offset); err != nil {
		return err
	}
	if err := json.Unmarshal(a[1], &c.stream); err != nil {
		return err
	}
	return json.Unmarshal(a[2], &c.text)
}

// lines decodes the chunk's lines numbered above after, at most limit of
// them, appending them to out.
func (c *logChunk) lines(out []LogLine, after uint64, limit int) ([]LogLine, error) {
	var body []chunkLine
	if err := json.Unmarshal([]byte(c.Body), &body); err != nil {
		return out, fmt.Errorf("log chunk %d-%d: %w", c.First, c.Last, err)
	}
	if uint64(len(body)) != c.Last-c.First+1 {
		return out, fmt.Errorf("log chunk %d-%d holds %d lines", c.First, c.Last, len(body))
	}
	base := c.TFirst.UTC()
	for i, l := range body {
		n := c.First + uint64(i)
		if n <= after {
			continue
		}
		if limit <= 0 {
			break
		}
		out = append(out, LogLine{N: n, T: base.Add(time.Duration(l.offset) * logChunkPrecision), Stream: l.stream, Text: l.text})
		limit--
	}
	return out, nil
}
