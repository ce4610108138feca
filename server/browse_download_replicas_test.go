package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// TestDownloadUploadThroughTheOtherReplica: behind a load balancer with
// no sticky routing the agent's upload reaches another replica than the
// person's download: a download started on either replica is read whole
// there from an upload taken by the other (passed through the store in
// chunks, more of them than one download may leave unread at once), the
// agent learns that every byte arrived, the token is spent on both, and no
// row of it stays behind.
func TestDownloadUploadThroughTheOtherReplica(t *testing.T) {
	t.Parallel()
	pubs := []*servertest.Publisher{{}, {}}
	rs := startReplicasWith(t, 2, server.Options{}, func(i int, s *server.Service) { s.SetPublisher(pubs[i]) })
	ctx := t.Context()
	tok, _, err := rs[0].s.CreateEnrollmentToken(ctx, server.CLIActor(), "files", 0)
	if err != nil {
		t.Fatal(err)
	}
	host, err := rs[0].s.Enroll(ctx, server.EnrollRequest{Token: tok, Hostname: "files", OS: "linux", Arch: "amd64", AgentVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	user := servertest.ActorFor(servertest.MustCreateUser(t, rs[0].s, "operator", server.RoleOperator), "web")
	payload := make([]byte, 3<<20+12345) // 13 chunks of 256 KiB, 8 may wait unread
	_, _ = rand.Read(payload)

	for _, c := range []struct{ start, upload int }{{0, 1}, {1, 0}} {
		starter, uploader := rs[c.start].s, rs[c.upload].s
		starter.Presence().Connected(host.HostID, 1, "192.0.2.1:5000")
		// The agent: it answers the dump query on the starter's publisher
		// and uploads through the other replica.
		agentDone, token := make(chan error, 1), make(chan string, 1)
		pubs[c.start].SetHook(func(m servertest.PublishedMessage) {
			if !strings.HasSuffix(m.Topic, "/down/query") {
				return
			}
			var q topics.Query
			if err := topics.Decode(m.Payload, &q); err != nil {
				t.Errorf("the server published an invalid query: %v", err)
				return
			}
			r := &topics.Reply{Envelope: topics.NewEnvelope(topics.TypeReply, host.HostID), Request: q.ID, Op: q.Op,
				Dump: &topics.DumpStart{Kind: topics.DumpKindFile, Size: uint64(len(payload))}}
			data, err := topics.Encode(r)
			if err != nil {
				t.Error(err)
				return
			}
			go func() {
				wait, err := uploader.AttachUpload(context.Background(), host.HostID, host.MQTTPassword, q.Upload, bytes.NewReader(payload))
				if err == nil {
					err = wait(context.Background())
				}
				token <- q.Upload
				agentDone <- err
			}()
			starter.HandleMessage(topics.ReplyTopic(host.HostID), data, host.HostID, 1)
		})
		d, err := starter.StartDownload(ctx, user, server.DownloadRequest{HostID: host.HostID, Snapshot: "latest", Path: "/srv/big.bin"})
		if err != nil {
			t.Fatalf("start on replica %d: %v", c.start, err)
		}
		body, err := d.Body(ctx)
		if err != nil {
			t.Fatalf("body on replica %d: %v", c.start, err)
		}
		got, err := io.ReadAll(body)
		d.Finish(int64(len(got)), err)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("replica %d read %d of %d bytes (equal %v) of an upload through replica %d: %v",
				c.start, len(got), len(payload), bytes.Equal(got, payload), c.upload, err)
		}
		if err := <-agentDone; err != nil {
			t.Fatalf("the agent's upload through replica %d was answered %v, want complete", c.upload, err)
		}
		// Spent: the same token again, through either replica.
		spent := <-token
		for i, r := range rs {
			if _, err := r.s.AttachUpload(ctx, host.HostID, host.MQTTPassword, spent, strings.NewReader("x")); server.ErrorCodeOf(err) != server.CodeNotFound {
				t.Errorf("a spent token's second upload through replica %d = %v, want not found", i, err)
			}
		}
		waitFor(t, "the relay's rows to go", func() bool {
			var n int
			err := starter.DB().Get(&n, `SELECT (SELECT COUNT(*) FROM download_relays) + (SELECT COUNT(*) FROM download_chunks)`)
			return err == nil && n == 0
		})
		starter.Presence().Disconnected(host.HostID, 1)
	}
}
