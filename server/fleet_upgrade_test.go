package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

func enrollForUpgrade(t *testing.T, s *server.Service, name, goos, version string) string {
	t.Helper()
	tok, _, err := s.CreateEnrollmentToken(t.Context(), server.CLIActor(), name, 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Enroll(t.Context(), server.EnrollRequest{Token: tok, Hostname: name, OS: goos, Arch: "amd64", AgentVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	return res.HostID
}

func upgradeTargets(version string) server.UpgradeTargets {
	return func(goos, goarch string) (server.UpgradeTarget, bool) {
		if goos != "linux" || goarch != "amd64" {
			return server.UpgradeTarget{}, false
		}
		return server.UpgradeTarget{Version: version, SHA256: strings.Repeat("0a", 32), Size: 1000}, true
	}
}

func helloFrom(host, version string) *topics.Hello {
	return &topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, host), AgentVersion: version, OS: "linux",
		Arch: "amd64", BootID: "b", ConnGen: 1}
}

func lastUpgradeCommand(t *testing.T, pub *servertest.Publisher, host string) *topics.Upgrade {
	t.Helper()
	msgs := pub.On(topics.CmdTopic(host))
	if len(msgs) == 0 {
		t.Fatalf("no command sent to %s", host)
	}
	var u topics.Upgrade
	if err := topics.DecodeFrom(msgs[len(msgs)-1].Payload, host, &u); err != nil {
		t.Fatalf("last command is not an upgrade: %v", err)
	}
	return &u
}

func TestRequestUpgradesSelectsAuditsAndSends(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{})
	ctx := t.Context()
	pub := &servertest.Publisher{}
	s.SetPublisher(pub)
	old := enrollForUpgrade(t, s, "old", "linux", "1.0.0")
	current := enrollForUpgrade(t, s, "current", "linux", "2.0.0")
	mac := enrollForUpgrade(t, s, "mac", "darwin", "1.0.0")
	targets := upgradeTargets("2.0.0")

	op := servertest.MustCreateUser(t, s, "op", server.RoleOperator)
	if _, err := s.RequestUpgrades(ctx, servertest.ActorFor(op, "api"), server.UpgradeRequest{Outdated: true}, targets); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("operator upgraded: %v", err)
	}
	if _, err := s.RequestUpgrades(ctx, server.CLIActor(), server.UpgradeRequest{}, targets); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Fatalf("empty request: %v", err)
	}
	if _, err := s.RequestUpgrades(ctx, server.CLIActor(), server.UpgradeRequest{HostIDs: []string{"h_nosuchhost"}}, targets); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("unknown host: %v", err)
	}

	b, err := s.RequestUpgrades(ctx, server.CLIActor(), server.UpgradeRequest{Outdated: true}, targets)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Requested) != 1 || b.Requested[0].HostID != old {
		t.Fatalf("outdated upgrade requested %+v, want only %s", b.Requested, old)
	}
	if len(b.Skipped) != 0 {
		t.Fatalf("skipped %+v: a host without a build is not outdated", b.Skipped)
	}
	cmd := lastUpgradeCommand(t, pub, old)
	if cmd.Version != "2.0.0" || cmd.Path != "/agent/binary?arch=amd64&os=linux" || cmd.ID != b.Requested[0].UpgradeID {
		t.Fatalf("command %+v", cmd)
	}
	if len(pub.On(topics.CmdTopic(current))) != 0 {
		t.Fatal("a host already current got an upgrade command")
	}
	entries, err := s.ListAudit(ctx, server.AuditFilter{Action: "agent.upgrade"})
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit rows %+v, %v; want one", entries, err)
	}
	var details struct {
		Hosts []map[string]string `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(entries[0].Details), &details); err != nil || len(details.Hosts) != 1 || details.Hosts[0]["host_id"] != old {
		t.Fatalf("audit details %s", entries[0].Details)
	}

	b, err = s.RequestUpgrades(ctx, server.CLIActor(), server.UpgradeRequest{HostIDs: []string{current, mac}}, targets)
	if err != nil || len(b.Requested) != 0 || len(b.Skipped) != 2 || !strings.Contains(b.Skipped[0].Reason, "already runs 2.0.0") ||
		!strings.Contains(b.Skipped[1].Reason, "no agent build for darwin/amd64") {
		t.Fatalf("upgrade of a current host and one without a build: %+v, %v", b, err)
	}
	if entries, _ := s.ListAudit(ctx, server.AuditFilter{Action: "agent.upgrade"}); len(entries) != 1 {
		t.Fatalf("a request that changed nothing was audited: %d rows", len(entries))
	}
}

func TestUpgradeStatesFromHelloAndReports(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{})
	ctx := t.Context()
	pub := &servertest.Publisher{}
	s.SetPublisher(pub)
	h := enrollForUpgrade(t, s, "web-1", "linux", "1.0.0")
	b, err := s.RequestUpgrades(ctx, server.CLIActor(), server.UpgradeRequest{HostIDs: []string{h}}, upgradeTargets("2.0.0"))
	if err != nil || len(b.Requested) != 1 {
		t.Fatalf("request: %+v %v", b, err)
	}
	id := b.Requested[0].UpgradeID
	report := func(upgrade, state, reason string) {
		r := &topics.UpgradeReport{Envelope: topics.NewEnvelope(topics.TypeUpgradeReport, h), Upgrade: upgrade,
			State: state, From: "1.0.0", To: "2.0.0", Reason: reason}
		p, err := topics.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		s.HandleMessage(topics.Topic{Kind: topics.KindUpgrade, Host: h}.String(), p, h, 1)
	}
	hello := func(version string) {
		p, err := topics.Encode(helloFrom(h, version))
		if err != nil {
			t.Fatal(err)
		}
		s.HandleMessage(topics.HelloTopic(h), p, h, 1)
		if err := s.SyncHellos(ctx); err != nil {
			t.Fatal(err)
		}
	}
	state := func() *server.AgentUpgrade {
		u, err := s.HostUpgrade(ctx, h)
		if err != nil || u == nil {
			t.Fatalf("host upgrade: %v %v", u, err)
		}
		return u
	}

	sent := len(pub.On(topics.CmdTopic(h)))
	hello("1.0.0") // offline when asked: the command comes again after hello
	if got := len(pub.On(topics.CmdTopic(h))); got != sent+1 || lastUpgradeCommand(t, pub, h).ID != id {
		t.Fatalf("hello of an old agent: %d commands, want %d with the same id", got, sent+1)
	}
	report("someotherupgrade", topics.UpgradeFailed, "old news")
	if u := state(); u.State != topics.UpgradeRequested {
		t.Fatalf("a report for another upgrade changed the state to %s", u.State)
	}
	report(id, topics.UpgradeDelivered, "")
	if u := state(); u.State != topics.UpgradeDelivered {
		t.Fatalf("state %s, want delivered", u.State)
	}
	report(id, topics.UpgradeRolledBack, "no hello within 2m0s")
	if u := state(); u.State != topics.UpgradeRolledBack || u.Reason != "no hello within 2m0s" {
		t.Fatalf("state %s (%q), want rolled_back", u.State, u.Reason)
	}
	hello("2.0.0") // a finished upgrade never moves
	report(id, topics.UpgradeDone, "")
	if u := state(); u.State != topics.UpgradeRolledBack {
		t.Fatalf("a finished upgrade moved to %s", u.State)
	}

	b, err = s.RequestUpgrades(ctx, server.CLIActor(), server.UpgradeRequest{HostIDs: []string{h}}, upgradeTargets("3.0.0"))
	if err != nil || len(b.Requested) != 1 {
		t.Fatalf("second request: %+v %v", b, err)
	}
	hello("3.0.0") // the new version in hello is the proof
	if u := state(); u.State != topics.UpgradeDone || u.ToVersion != "3.0.0" {
		t.Fatalf("state %s to %s, want done to 3.0.0", u.State, u.ToVersion)
	}
}
