package server_test

import (
	"sync"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

type recordingDisconnecter struct {
	mu  sync.Mutex
	ids []string
}

func (d *recordingDisconnecter) Disconnect(id string) {
	d.mu.Lock()
	d.ids = append(d.ids, id)
	d.mu.Unlock()
}

func TestRevokeHost(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{})
	ctx := t.Context()
	tok, _, _ := s.CreateEnrollmentToken(ctx, server.CLIActor(), "old-nas", 0)
	res, err := s.Enroll(ctx, server.EnrollRequest{Token: tok, Hostname: "nas", OS: "linux", Arch: "amd64", AgentVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	d, pub := &recordingDisconnecter{}, &servertest.Publisher{}
	s.SetDisconnecter(d)
	s.SetPublisher(pub)
	s.Presence().Connected(res.HostID, 1, "x")

	op := servertest.MustCreateUser(t, s, "op", server.RoleOperator)
	if err := s.RevokeHost(ctx, servertest.ActorFor(op, "web"), res.HostID, "old-nas"); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("operator revoked: %v", err)
	}
	if err := s.RevokeHost(ctx, server.CLIActor(), res.HostID, "old-na"); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Fatalf("wrong confirmation: %v", err)
	}
	if _, err := s.GetHost(ctx, res.HostID); err != nil || len(d.ids) != 0 {
		t.Fatalf("refused revocations changed something: %v %v", err, d.ids)
	}

	if err := s.RevokeHost(ctx, server.CLIActor(), res.HostID, "old-nas"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetHost(ctx, res.HostID); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("revoked host still listed: %v", err)
	}
	if _, err := s.AuthenticateMQTT(ctx, res.HostID, []byte(res.MQTTPassword)); err == nil {
		t.Fatal("a revoked host can still authenticate")
	}
	if len(d.ids) != 1 || d.ids[0] != res.HostID {
		t.Fatalf("session not disconnected: %v", d.ids)
	}
	msgs := pub.On(topics.MonitorHostTopic(res.HostID))
	if len(msgs) == 0 || len(msgs[len(msgs)-1].Payload) != 0 || !msgs[len(msgs)-1].Retain {
		t.Fatalf("retained monitor state not cleared: %+v", msgs)
	}
	if e, _ := s.ListAudit(ctx, server.AuditFilter{Action: "host.revoke"}); len(e) != 1 || e[0].Target != "old-nas" {
		t.Fatalf("audit %+v", e)
	}
	if err := s.RevokeHost(ctx, server.CLIActor(), res.HostID, "old-nas"); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("second revoke: %v", err)
	}
	// The name is free for the replacement machine.
	if _, _, err := s.CreateEnrollmentToken(ctx, server.CLIActor(), "old-nas", 0); err != nil {
		t.Fatalf("name not reusable after revoke: %v", err)
	}
}
