package server

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/restic-manager/restic-manager/topics"
)

// FuzzLogChunkRoundTrip: whatever valid lines a batch holds (any UTF-8
// text, times in any order), the chunk body is valid JSON and decodes to
// the same lines, their times to the microsecond.
func FuzzLogChunkRoundTrip(f *testing.F) {
	f.Add("plain", "quote \" backslash \\ tab \t nl \n cr \r nul \x00 del \x7f é 😀", int64(1500), int64(-3500))
	f.Add("", "\u2028\u2029</script>", int64(0), int64(1<<40))
	f.Fuzz(func(t *testing.T, a, b string, d1, d2 int64) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) {
			return
		}
		base := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
		in := []topics.LogLine{
			{T: base, Stream: topics.StreamStdout, Text: a},
			{T: base.Add(time.Duration(d1 % (1 << 50))), Stream: topics.StreamStderr, Text: b},
			{T: base.Add(time.Duration(d2 % (1 << 50))), Stream: topics.StreamAgent, Text: a + b},
		}
		c := encodeLogChunk(41, in)
		if !json.Valid([]byte(c.Body)) {
			t.Fatalf("body is not JSON: %q", c.Body)
		}
		out, err := c.lines(nil, 40, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != len(in) || c.Last != 43 {
			t.Fatalf("%d lines back, last %d", len(out), c.Last)
		}
		for i, l := range out {
			want := in[i].T.Truncate(logChunkPrecision)
			if l.N != 41+uint64(i) || l.Stream != in[i].Stream || l.Text != in[i].Text || !l.T.Equal(want) {
				t.Fatalf("line %d = %+v, want %+v", i, l, in[i])
			}
		}
		if tail, err := c.lines(nil, 42, 10); err != nil || len(tail) != 1 || tail[0].N != 43 {
			t.Fatalf("lines after 42: %+v, %v", tail, err)
		}
	})
}
