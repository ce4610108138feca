package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// downloadReplicas is two replicas on one PostgreSQL database, a host
// online on both (as every replica hears its hello), and a person who
// may download from it. Each replica's publisher plays the agent's
// answer to a dump query.
type downloadReplicas struct {
	rs   []*replica
	pubs []*servertest.Publisher
	host *server.EnrollResult
	user server.Actor
}

func newDownloadReplicas(tb testing.TB) *downloadReplicas {
	tb.Helper()
	f := &downloadReplicas{pubs: []*servertest.Publisher{{}, {}}}
	f.rs = startReplicasWith(tb, 2, server.Options{}, func(i int, s *server.Service) { s.SetPublisher(f.pubs[i]) })
	ctx := context.Background()
	tok, _, err := f.rs[0].s.CreateEnrollmentToken(ctx, server.CLIActor(), "files", 0)
	if err != nil {
		tb.Fatal(err)
	}
	if f.host, err = f.rs[0].s.Enroll(ctx, server.EnrollRequest{Token: tok, Hostname: "files", OS: "linux", Arch: "amd64", AgentVersion: "1"}); err != nil {
		tb.Fatal(err)
	}
	for _, r := range f.rs {
		r.s.Presence().Connected(f.host.HostID, 1, "192.0.2.1:5000")
	}
	f.user = servertest.ActorFor(servertest.MustCreateUser(tb, f.rs[0].s, "operator", server.RoleOperator), "web")
	return f
}

// download is a person's download of payload on replica start whose
// upload the agent sends through replica upload: what the person read,
// how reading ended, what the agent's upload was answered, and the token.
func (f *downloadReplicas) download(tb testing.TB, start, upload int, payload []byte) (got []byte, readErr, agentErr error, token string) {
	tb.Helper()
	starter, uploader := f.rs[start].s, f.rs[upload].s
	agentDone, tokens := make(chan error, 1), make(chan string, 1)
	f.pubs[start].SetHook(func(m servertest.PublishedMessage) {
		if !strings.HasSuffix(m.Topic, "/down/query") {
			return
		}
		var q topics.Query
		if err := topics.Decode(m.Payload, &q); err != nil {
			tb.Errorf("the server published an invalid query: %v", err)
			return
		}
		r := &topics.Reply{Envelope: topics.NewEnvelope(topics.TypeReply, f.host.HostID), Request: q.ID, Op: q.Op,
			Dump: &topics.DumpStart{Kind: topics.DumpKindFile, Size: uint64(len(payload))}}
		data, err := topics.Encode(r)
		if err != nil {
			tb.Error(err)
			return
		}
		tokens <- q.Upload
		go func() {
			wait, err := uploader.AttachUpload(context.Background(), f.host.HostID, f.host.MQTTPassword, q.Upload, bytes.NewReader(payload))
			if err == nil {
				err = wait(context.Background())
			}
			agentDone <- err
		}()
		starter.HandleMessage(topics.ReplyTopic(f.host.HostID), data, f.host.HostID, 1)
	})
	ctx := context.Background()
	d, err := starter.StartDownload(ctx, f.user, server.DownloadRequest{HostID: f.host.HostID, Snapshot: "latest", Path: "/srv/big.bin"})
	if err != nil {
		tb.Fatalf("start on replica %d: %v", start, err)
	}
	body, err := d.Body(ctx)
	if err != nil {
		tb.Fatalf("body on replica %d: %v", start, err)
	}
	got, readErr = io.ReadAll(body)
	d.Finish(int64(len(got)), readErr)
	return got, readErr, <-agentDone, <-tokens
}

// TestDownloadUploadThroughTheOtherReplica: behind a load balancer with
// no sticky routing the agent's upload reaches another replica than the
// person's download: a download started on either replica is read whole
// there from an upload taken by the other (passed through the store in
// chunks, more of them than one download may leave unread at once), the
// agent learns that every byte arrived, the token is spent on both, and no
// row of it stays behind.
func TestDownloadUploadThroughTheOtherReplica(t *testing.T) {
	t.Parallel()
	f := newDownloadReplicas(t)
	payload := make([]byte, 3<<20+12345) // 13 chunks of 256 KiB, 8 may wait unread
	_, _ = rand.Read(payload)
	for _, c := range []struct{ start, upload int }{{0, 1}, {1, 0}} {
		got, readErr, agentErr, token := f.download(t, c.start, c.upload, payload)
		if readErr != nil || !bytes.Equal(got, payload) {
			t.Fatalf("replica %d read %d of %d bytes (equal %v) of an upload through replica %d: %v",
				c.start, len(got), len(payload), bytes.Equal(got, payload), c.upload, readErr)
		}
		if agentErr != nil {
			t.Fatalf("the agent's upload through replica %d was answered %v, want complete", c.upload, agentErr)
		}
		for i, r := range f.rs { // spent, on both
			if _, err := r.s.AttachUpload(t.Context(), f.host.HostID, f.host.MQTTPassword, token, strings.NewReader("x")); server.ErrorCodeOf(err) != server.CodeNotFound {
				t.Errorf("a spent token's second upload through replica %d = %v, want not found", i, err)
			}
		}
		waitFor(t, "the relay's rows to go", func() bool {
			var n int
			err := f.rs[c.start].s.DB().Get(&n, `SELECT (SELECT COUNT(*) FROM download_relays) + (SELECT COUNT(*) FROM download_chunks)`)
			return err == nil && n == 0
		})
	}
}

// BenchmarkDownloadRelay: 32 MiB downloaded from one replica, uploaded
// through the same one (local: handed over in memory) and through the
// other (relayed: through PostgreSQL). MiB/s is wall time; cpu-ms/MiB is
// both replicas' CPU (this process; PostgreSQL's own is not in it).
func BenchmarkDownloadRelay(b *testing.B) {
	f := newDownloadReplicas(b)
	payload := make([]byte, 32<<20)
	_, _ = rand.Read(payload)
	for _, c := range []struct {
		name   string
		upload int
	}{{"local", 0}, {"relayed", 1}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(payload)))
			cpu, start := servertest.ProcessCPU(), time.Now()
			for range b.N {
				got, readErr, agentErr, _ := f.download(b, 0, c.upload, payload)
				if readErr != nil || agentErr != nil || len(got) != len(payload) {
					b.Fatalf("read %d of %d bytes: %v, agent %v", len(got), len(payload), readErr, agentErr)
				}
			}
			mib := float64(b.N) * float64(len(payload)) / (1 << 20)
			b.ReportMetric(mib/time.Since(start).Seconds(), "MiB/s")
			b.ReportMetric(float64((servertest.ProcessCPU()-cpu).Milliseconds())/mib, "cpu-ms/MiB")
		})
	}
}
