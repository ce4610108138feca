package agent

import (
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// The decoders the job wiring added for untrusted bytes: the header of a
// command that failed validation (from the network), and the job state
// the journal keeps (from disk). `make fuzz` runs these.

const fuzzHost = "h_fuzz00000000000000000000000"

func FuzzLooseRunCommand(f *testing.F) {
	good, _ := topics.Encode(&topics.Command{Envelope: topics.NewEnvelope(topics.TypeCmd, fuzzHost), Action: topics.CmdRun,
		Job: "j_abc", Version: 3, ExpiresAt: time.Now(), Spec: &topics.JobSpec{Kind: topics.JobCheck}})
	f.Add(good)
	f.Add([]byte(`{"v":1,"id":"x1","type":"cmd","ts":"2026-01-01T00:00:00Z","host":"` + fuzzHost + `","action":"run","job":"j_x1y","version":1,"spec":{"kind":"teleport"}}`))
	f.Add([]byte(`{"v":1,"id":"x1","type":"cmd","ts":"2026-01-01T00:00:00Z","host":"h_other","action":"run","job":"j_x1y","version":1}`))
	f.Add([]byte(`{"action":"cancel"}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, ok := looseRunCommand(data, fuzzHost)
		if !ok {
			return
		}
		if c.Host != fuzzHost || c.Action != topics.CmdRun || !topics.ValidJobID(c.Job) || c.Version < 1 || c.Spec != nil {
			t.Fatalf("accepted %+v", c)
		}
		if c.Envelope.Validate(topics.TypeCmd) != nil {
			t.Fatalf("accepted a bad envelope %+v", c.Envelope)
		}
	})
}

func FuzzDecodeJobRecordState(f *testing.F) {
	f.Add([]byte(`{"started_at":"2026-01-02T03:04:05Z","log_lines":12}`))
	f.Add([]byte(`{"log_lines":9007199254740993}`))
	f.Add([]byte(``))
	f.Add([]byte(`{"started_at":"yesterday"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeJobRecordState(data)
		if err != nil {
			return
		}
		if st.LogLines > 1<<53 {
			t.Fatalf("log line count %d accepted", st.LogLines)
		}
	})
}

func TestLooseRunCommand(t *testing.T) {
	unknownKind := []byte(`{"v":1,"id":"x1","type":"cmd","ts":"2026-01-01T00:00:00Z","host":"` + fuzzHost +
		`","action":"run","job":"j_x1y","version":4,"expires_at":"2030-01-01T00:00:00Z","spec":{"kind":"teleport"}}`)
	var full topics.Command
	if topics.DecodeFrom(unknownKind, fuzzHost, &full) == nil {
		t.Fatal("the test command should fail full validation")
	}
	c, ok := looseRunCommand(unknownKind, fuzzHost)
	if !ok || c.Job != "j_x1y" || c.Version != 4 {
		t.Fatalf("loose = %+v, %v", c, ok)
	}
	if _, ok := looseRunCommand(unknownKind, "h_someoneelse0000000000000000"); ok {
		t.Fatal("a command for another host was read")
	}
}
