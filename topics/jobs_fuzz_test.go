package topics

import (
	"encoding/json"
	"testing"
	"time"
)

// Fuzz targets for the job protocol's decoders: whatever Decode accepts
// must hold the invariants the server relies on, and re-encode and decode
// to a valid message again.

// fuzzRoundTrip decodes data as a T and, when it decodes, checks it
// round-trips and passes check.
func fuzzRoundTrip[T any, P interface {
	*T
	Payload
}](t *testing.T, data []byte, check func(P) string) {
	m := P(new(T))
	if err := Decode(data, m); err != nil {
		return
	}
	if why := check(m); why != "" {
		t.Fatalf("decoded %T breaks an invariant: %s", m, why)
	}
	again, err := Encode(m)
	if err != nil {
		t.Fatalf("decoded %T fails to encode: %v", m, err)
	}
	if err := Decode(again, P(new(T))); err != nil {
		t.Fatalf("re-decode %T: %v", m, err)
	}
}

func seed(f *testing.F, m any) {
	b, err := json.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

func FuzzDecodeJobEvent(f *testing.F) {
	h, j := RandomID(HostIDPrefix), RandomID(JobIDPrefix)
	code := 3
	seed(f, &JobEvent{Envelope: NewEnvelope(TypeJobEvent, h), Seq: 1, Job: j, Version: 2, State: JobDelivered, At: time.Now()})
	seed(f, &JobEvent{Envelope: NewEnvelope(TypeJobEvent, h), Seq: 9, Job: j, Version: 4, State: JobWarning, At: time.Now(),
		Result: &JobResult{ExitCode: &code, SnapshotID: "0123abcd", LogLines: 7, Backup: &BackupSummary{FilesNew: 1}}})
	f.Add([]byte(`{"v":1,"type":"job.event","seq":1,"version":2,"state":"queued"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func(m *JobEvent) string {
			switch {
			case m.Seq == 0 || m.Version < 2 || !ValidJobID(m.Job):
				return "seq, version or job id"
			case !m.State.Valid() || m.State == JobQueued:
				return "state " + string(m.State)
			case m.State.Terminal() != (m.Result != nil):
				return "result without a terminal state, or the reverse"
			}
			return ""
		})
	})
}

func FuzzDecodeJobLog(f *testing.F) {
	h, j := RandomID(HostIDPrefix), RandomID(JobIDPrefix)
	seed(f, &JobLog{Envelope: NewEnvelope(TypeJobLog, h), Seq: 3, Job: j, First: 10,
		Lines: []LogLine{{T: time.Now(), Stream: StreamStdout, Text: "hello"}, {T: time.Now(), Stream: StreamAgent, Text: ""}}})
	f.Add([]byte(`{"v":1,"type":"job.log","seq":1,"first":0,"lines":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func(m *JobLog) string {
			if m.First < 1 || len(m.Lines) == 0 || m.Last() < m.First || m.Last() > 1<<53+MaxLogBatchLines {
				return "line numbers"
			}
			return ""
		})
	})
}

func FuzzDecodeJobProgress(f *testing.F) {
	h, j := RandomID(HostIDPrefix), RandomID(JobIDPrefix)
	seed(f, &JobProgress{Envelope: NewEnvelope(TypeJobProgress, h), Job: j, Percent: 12.5, ETASeconds: -1, CurrentFile: "/etc/passwd"})
	f.Add([]byte(`{"v":1,"type":"job.progress","percent":"NaN"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func(m *JobProgress) string {
			if !(m.Percent >= 0 && m.Percent <= 100) || m.ETASeconds < -1 {
				return "percent or eta"
			}
			return ""
		})
	})
}

func FuzzDecodeSnapshotReport(f *testing.F) {
	h := RandomID(HostIDPrefix)
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	seed(f, &SnapshotReport{Envelope: NewEnvelope(TypeSnapshots, h), Seq: 5, Report: "rep-1", Part: 2, Parts: 3, TakenAt: time.Now(),
		Snapshots: []SnapshotInfo{{ID: id, Time: time.Now(), Paths: []string{"/etc"}, Tags: []string{"daily"}, Parent: id[:8]}}})
	f.Add([]byte(`{"v":1,"type":"snapshots","seq":1,"report":"abc","part":0,"parts":0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func(m *SnapshotReport) string {
			if m.Part < 1 || m.Part > m.Parts || len(m.Snapshots) > MaxSnapshotsPerPart {
				return "parts"
			}
			for _, s := range m.Snapshots {
				if len(s.ID) != 64 {
					return "snapshot id"
				}
			}
			return ""
		})
	})
}

func FuzzDecodeCommand(f *testing.F) {
	h, j := RandomID(HostIDPrefix), RandomID(JobIDPrefix)
	seed(f, &Command{Envelope: NewEnvelope(TypeCmd, h), Action: CmdRun, Job: j, Version: 1, ExpiresAt: time.Now(), ConfigVersion: 2,
		Spec: &JobSpec{Kind: JobRestore, Snapshot: "latest", Target: "/tmp/r", Include: []string{"/etc"}}})
	seed(f, &Command{Envelope: NewEnvelope(TypeCmd, h), Action: CmdCancel, Job: j})
	// #14: a cross-host restore with the source repository, a policy and verify.
	seed(f, &Command{Envelope: NewEnvelope(TypeCmd, h), Action: CmdRun, Job: j, Version: 1, ExpiresAt: time.Now(),
		Spec:             &JobSpec{Kind: JobRestore, Snapshot: "0123abcd", Target: "/", Overwrite: OverwriteIfNewer, Verify: true, SourceHost: RandomID(HostIDPrefix)},
		SourceRepository: &RepositoryConfig{URL: "/srv/restic/other", Password: "pw"}})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func(m *Command) string {
			if m.Action == CmdRun && (m.Spec == nil || m.Spec.Validate() != nil) {
				return "run without a valid spec"
			}
			return ""
		})
	})
}

func FuzzDecodeConfigAndAck(f *testing.F) {
	h := RandomID(HostIDPrefix)
	seed(f, &Config{Envelope: NewEnvelope(TypeConfig, h), Version: 3,
		Repository: &RepositoryConfig{URL: "s3:https://minio/b", Password: "pw", Env: map[string]string{"AWS_ACCESS_KEY_ID": "x"}}})
	seed(f, &Ack{Envelope: NewEnvelope(TypeAck, h), Seqs: []uint64{1, 2, 3}, Resend: true})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func(m *Config) string {
			if m.Repository != nil {
				for name := range m.Repository.Env {
					if !BackendEnvAllowed(name) {
						return "env " + name
					}
				}
			}
			return ""
		})
		fuzzRoundTrip(t, data, func(m *Ack) string {
			for _, s := range m.Seqs {
				if s == 0 {
					return "seq 0"
				}
			}
			return ""
		})
	})
}
