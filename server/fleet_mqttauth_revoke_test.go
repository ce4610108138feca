package server_test

import (
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// A host's verified secret is kept in memory; revoking the host drops it,
// so the revoked host cannot connect again with the credential that was
// cached, and a host revoked while its CONNECTs hit the cache is refused
// from the next one on.
func TestRevokedHostCannotUseItsCachedCredential(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{})
	ctx := t.Context()
	tok, _, err := s.CreateEnrollmentToken(ctx, server.CLIActor(), "cached-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Enroll(ctx, server.EnrollRequest{Token: tok, Hostname: "c", OS: "linux", Arch: "amd64", AgentVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second from the cache
		if kind, err := s.AuthenticateMQTT(ctx, res.HostID, []byte(res.MQTTPassword)); err != nil || kind != server.MQTTHost {
			t.Fatalf("enrolled host: %v %v", kind, err)
		}
	}
	if _, err := s.AuthenticateMQTT(ctx, res.HostID, []byte("not-the-secret")); server.ErrorCodeOf(err) != server.CodeUnauthorized {
		t.Fatalf("a wrong secret beside a cached one: %v", err)
	}
	if err := s.RevokeHost(ctx, server.CLIActor(), res.HostID, "cached-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateMQTT(ctx, res.HostID, []byte(res.MQTTPassword)); server.ErrorCodeOf(err) != server.CodeUnauthorized {
		t.Fatalf("the revoked host authenticated with its cached secret: %v", err)
	}
}
