package topics

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// checkJobLogDecode decodes data with decodeJobLog and with encoding/json
// and fails t unless they agree: what decodeJobLog handles, encoding/json
// accepts and decodes to the same JobLog; what it leaves, it leaves
// untouched. Decode as a whole must accept and refuse what encoding/json
// and Validate do. It reports whether decodeJobLog handled data.
func checkJobLogDecode(t testing.TB, data []byte) bool {
	t.Helper()
	var want JobLog
	wantErr := json.Unmarshal(data, &want)
	var got JobLog
	handled := decodeJobLog(data, &got)
	switch {
	case handled && wantErr != nil:
		t.Fatalf("one-pass decoder accepted what encoding/json refuses (%v): %q", wantErr, data)
	case handled && !reflect.DeepEqual(got, want):
		t.Fatalf("one-pass decoder and encoding/json differ on %q:\n got %#v\nwant %#v", data, got, want)
	case !handled && !reflect.DeepEqual(got, JobLog{}):
		t.Fatalf("one-pass decoder left %q but changed the message: %#v", data, got)
	}
	if len(data) > MaxPayload {
		return handled
	}
	if wantErr == nil {
		wantErr = want.Validate()
	}
	var viaDecode JobLog
	err := Decode(data, &viaDecode)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("Decode: %v; encoding/json and Validate: %v; for %q", err, wantErr, data)
	}
	if err == nil && !reflect.DeepEqual(viaDecode, want) {
		t.Fatalf("Decode and encoding/json differ on %q:\n got %#v\nwant %#v", data, viaDecode, want)
	}
	return handled
}

// jobLogTexts are log lines of the kinds an agent sends: restic's JSON
// (quotes to escape), paths beyond ASCII, json.Marshal's HTML escapes, a
// tab, an ANSI colour, plain ASCII.
var jobLogTexts = []string{
	`{"message_type":"status","percent_done":0.43}`,
	"unchanged /srv/data/projects/report-2026-11.pdf",
	"modified  /home/jürgen/Документы/план.txt",
	"Added to the repository: 1.234 MiB <new> & ok",
	"Files:\t12 new, 3 changed, 1504 unmodified",
	"\x1b[31mFatal: unable to open config file\x1b[0m",
	"processed 1504 files, 2.345 GiB in 0:12",
	"",
}

// agentJobLog is a batch as the agent encodes it: n lines cycling
// through jobLogTexts.
func agentJobLog(n int) []byte {
	m := &JobLog{Envelope: NewEnvelope(TypeJobLog, RandomID(HostIDPrefix)), Seq: 42, Job: RandomID(JobIDPrefix), First: 1001}
	t0 := time.Now().UTC()
	streams := []string{StreamStdout, StreamStderr, StreamAgent}
	for i := range n {
		m.Lines = append(m.Lines, LogLine{T: t0.Add(time.Duration(i) * 1234567 * time.Nanosecond), Stream: streams[i%3], Text: jobLogTexts[i%len(jobLogTexts)]})
	}
	data, err := Encode(m)
	if err != nil {
		panic(err)
	}
	return data
}

// jobLogHead is a batch's members but its lines.
const jobLogHead = `"v":1,"id":"m1","type":"job.log","ts":"2026-12-05T19:53:00.123456789Z","host":"h_abcdefghijklmnop","seq":7,"job":"j_abcdefghijklmnop","first":3`

// jobLogWith is a batch of one line with more members after the head's
// and after the line's.
func jobLogWith(members, line string) []byte {
	return []byte(`{` + jobLogHead + members + `,"lines":[{"t":"2026-12-05T19:53:00Z","s":"out","x":"a"` + line + `}]}`)
}

// jobLogHandled and jobLogLeft are payloads the one-pass decoder reads
// itself and payloads it leaves to encoding/json.
var jobLogHandled = map[string][]byte{
	"plain":                 jobLogWith("", ""),
	"escapes":               jobLogWith("", `,"x":"q\"b\\s\/b\bf\fn\nr\rt\tA\u0041é\u00e9€\u20ac😀\ud83d\ude00\u003c\u2028"`),
	"lone surrogates":       jobLogWith("", `,"x":"\ud800|\udc00|\ud800\ud800|\ud800\u0041|\ud800x|\ud83d\ude00\udc00|\udbff\udfff|\ud800"`),
	"invalid utf-8":         jobLogWith("", ",\"x\":\"\xff|a\xc3|\xed\xa0\x80|\xf4\x90\x80\x80|\xc0\xaf|é|\xef\xbf\xbd\""),
	"invalid utf-8, escape": jobLogWith("", ",\"x\":\"\xff\\n\xe2\x82\""),
	"unknown fields": jobLogWith(`,"extra":{"a":[1,-2.5e+3,0.5E-1,-0,true,false,null,{"b":"\u0041\ud800"}],"":"","c":[[],{}]},"n":-1e9`,
		`,"more":{"deep":[[[["x"]]]]},"K":1,"tt":"2026"`),
	"case-variant keys": []byte(`{"V":1,"ID":"m1","Type":"job.log","TS":"2026-12-05T19:53:00Z","HOST":"h_abcdefghijklmnop","SEQ":7,"Job":"j_abcdefghijklmnop","fIrSt":3,` +
		`"LINES":[{"T":"2026-12-05T19:53:00Z","S":"err","X":"a"}]}`),
	"duplicate keys": jobLogWith(`,"seq":8,"Seq":9,"id":"m2","first":null,"ts":"2026-12-05T19:53:01Z"`, `,"x":"b","X":"c","t":"2026-12-05T19:53:02Z","t":null,"s":"agent"`),
	"whitespace": []byte(" \t\r\n{ \"v\" : 1 ,\n\"id\":\"m1\",\"type\"\t:\"job.log\",\"ts\":\"2026-12-05T19:53:00Z\",\"seq\":7,\"job\":\"j_abcdefghijklmnop\",\"first\":3," +
		"\"lines\" : [ { \"t\" : \"2026-12-05T19:53:00Z\" , \"s\" : \"out\" , \"x\" : \"\" } ,\r\n{\"t\":\"2026-12-05T19:53:00Z\",\"s\":\"out\"} ] } \n"),
	"null fields":     jobLogWith(`,"host":null,"v":null,"ts":null`, `,"t":null,"x":null`),
	"lines null only": []byte(`{` + jobLogHead + `,"lines":null}`),
	"no lines":        []byte(`{` + jobLogHead + `}`),
	"empty object":    []byte(`{}`),
	"empty line":      jobLogWith("", `},{`),
	"large numbers":   jobLogWith(`,"seq":18446744073709551615,"first":9007199254740992,"v":9223372036854775807`, ""),
	"zero numbers":    jobLogWith(`,"seq":0,"first":0,"v":0`, ""),
	"time offsets":    jobLogWith(`,"ts":"2026-12-05T21:53:00.5+02:00"`, `,"t":"2026-12-05T19:53:00-11:30"`),
	"other type":      jobLogWith(`,"type":"job.event","host":"out"`, `,"s":"stdout"`),
	"agent batch":     agentJobLog(20),
}

var jobLogLeft = map[string][]byte{
	"negative":             jobLogWith(`,"seq":-1`, ""),
	"negative zero":        jobLogWith(`,"first":-0`, ""),
	"fraction":             jobLogWith(`,"seq":1.0`, ""),
	"exponent":             jobLogWith(`,"seq":1e2`, ""),
	"exponent upper":       jobLogWith(`,"v":1E0`, ""),
	"overflow uint64":      jobLogWith(`,"seq":18446744073709551616`, ""),
	"overflow int":         jobLogWith(`,"v":9223372036854775808`, ""),
	"leading zero":         jobLogWith(`,"seq":01`, ""),
	"number as string":     jobLogWith(`,"seq":"5"`, ""),
	"string as number":     jobLogWith(`,"id":5`, ""),
	"time as number":       jobLogWith(``, `,"t":5`),
	"time with escape":     jobLogWith(`,"ts":"2026-12-05T19:53:0\u0030Z"`, ""),
	"time not RFC 3339":    jobLogWith(`,"ts":"2026-12-05 19:53:00Z"`, ""),
	"lines object":         []byte(`{` + jobLogHead + `,"lines":{}}`),
	"lines empty":          []byte(`{` + jobLogHead + `,"lines":[]}`),
	"lines null element":   []byte(`{` + jobLogHead + `,"lines":[null]}`),
	"lines twice":          jobLogWith(`,"lines":[{"x":"old","s":"err"}]`, ""),
	"lines null then":      []byte(`{"lines":null,` + jobLogHead + `,"lines":[{"t":"2026-12-05T19:53:00Z","s":"out","x":"a"}]}`),
	"key escape":           jobLogWith(`,"\u0073eq":9`, ""),
	"key long s":           jobLogWith(`,"ſeq":9`, ""),
	"key long s in line":   jobLogWith(``, `,"ſ":"err"`),
	"key kelvin":           jobLogWith(`,"`+"\u212a"+`":1`, ""), // folds to k, like no field: still encoding/json's
	"trailing data":        append(jobLogWith("", ""), " {}"...),
	"trailing byte":        append(jobLogWith("", ""), 'x'),
	"truncated":            jobLogWith("", "")[:40],
	"bad escape":           jobLogWith("", `,"x":"\'"`),
	"short unicode escape": jobLogWith("", `,"x":"\u12"`),
	"control byte":         jobLogWith("", ",\"x\":\"a\tb\""),
	"nul byte":             jobLogWith("", ",\"x\":\"a\x00b\""),
	"deep unknown":         jobLogWith(`,"deep":`+strings.Repeat("[", 100)+strings.Repeat("]", 100), ""),
	"bad literal":          jobLogWith(`,"u":tru`, ""),
	"bad number":           jobLogWith(`,"u":1.`, ""),
	"bad exponent":         jobLogWith(`,"u":1e+`, ""),
	"minus alone":          jobLogWith(`,"u":-`, ""),
	"missing comma":        []byte(`{"v":1 "id":"m1"}`),
	"trailing comma":       []byte(`{"v":1,}`),
	"array":                []byte(`[]`),
	"null":                 []byte(`null`),
	"empty":                []byte(``),
	"too many lines":       tooManyLines(),
}

func tooManyLines() []byte {
	line := `{"t":"2026-12-05T19:53:00Z","s":"out","x":""}`
	return []byte(`{` + jobLogHead + `,"lines":[` + strings.Repeat(line+",", MaxLogBatchLines) + line + `]}`)
}

func TestJobLogDecode(t *testing.T) {
	for name, data := range jobLogHandled {
		t.Run("handled/"+name, func(t *testing.T) {
			if !checkJobLogDecode(t, data) {
				t.Fatalf("one-pass decoder left %q to encoding/json", data)
			}
		})
	}
	for name, data := range jobLogLeft {
		t.Run("left/"+name, func(t *testing.T) {
			if checkJobLogDecode(t, data) {
				t.Fatalf("one-pass decoder read %q itself", data)
			}
		})
	}
	t.Run("batch decodes and validates", func(t *testing.T) {
		data := agentJobLog(320)
		var m JobLog
		if !decodeJobLog(data, &m) {
			t.Fatal("agent batch left to encoding/json")
		}
		if err := m.Validate(); err != nil || len(m.Lines) != 320 || m.Lines[2].Text != jobLogTexts[2] || m.Lines[3].Text != jobLogTexts[3] {
			t.Fatalf("decoded batch: %v, %d lines", err, len(m.Lines))
		}
	})
	t.Run("non-zero message", func(t *testing.T) {
		m := JobLog{Seq: 1}
		if decodeJobLog(jobLogWith("", ""), &m) {
			t.Fatal("decoded into a non-zero JobLog (encoding/json merges into it)")
		}
	})
}

func FuzzJobLogDecode(f *testing.F) {
	for _, data := range jobLogHandled {
		f.Add(data)
	}
	for name, data := range jobLogLeft {
		if name != "too many lines" {
			f.Add(data)
		}
	}
	f.Add(agentJobLog(3))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkJobLogDecode(t, data)
	})
}

// BenchmarkJobLogDecode decodes a 320-line batch of about 32 KiB (the
// agent's limit of text per batch is 32 KiB; its lines are shorter than
// these texts on average) with the one-pass decoder and with encoding/json
// in the same run.
func BenchmarkJobLogDecode(b *testing.B) {
	const lines = 320
	data := agentJobLog(lines)
	decoders := []struct {
		name   string
		decode func([]byte, *JobLog) error
	}{
		{"one-pass", func(data []byte, m *JobLog) error {
			if !decodeJobLog(data, m) {
				return fmt.Errorf("batch left to encoding/json")
			}
			return nil
		}},
		{"encoding-json", func(data []byte, m *JobLog) error { return json.Unmarshal(data, m) }},
		{"Decode", func(data []byte, m *JobLog) error { return Decode(data, m) }},
	}
	for _, dec := range decoders {
		b.Run(dec.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var m JobLog
				if err := dec.decode(data, &m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
		})
	}
	b.Logf("batch of %d lines, %d bytes", lines, len(data))
}
