package server_test

import (
	"fmt"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// BenchmarkAuthenticateMQTT is the broker's cost per CONNECT for a host
// (one indexed SQLite lookup of a SHA-256 digest), measured on a store of
// 1,000 hosts. Compare with BenchmarkArgon2Login to see why host secrets are
// 256-bit random values checked by hash rather than passwords.
func BenchmarkAuthenticateMQTT(b *testing.B) {
	s := servertest.MustOpenService(b, server.Options{})
	ctx := b.Context()
	type cred struct{ id, pw string }
	creds := make([]cred, 1000)
	for i := range creds {
		tok, _, err := s.CreateEnrollmentToken(ctx, server.CLIActor(), fmt.Sprintf("bench-%d", i), 0)
		if err != nil {
			b.Fatal(err)
		}
		res, err := s.Enroll(ctx, server.EnrollRequest{Token: tok, Hostname: "h", OS: "linux", Arch: "amd64", AgentVersion: "1"})
		if err != nil {
			b.Fatal(err)
		}
		creds[i] = cred{res.HostID, res.MQTTPassword}
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c := creds[i%len(creds)]
			if _, err := s.AuthenticateMQTT(ctx, c.id, []byte(c.pw)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkArgon2Login is one web sign-in's password check, for contrast.
func BenchmarkArgon2Login(b *testing.B) {
	hash, err := server.HashPassword(servertest.Password)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _ := server.VerifyPassword(servertest.Password, hash); !ok {
			b.Fatal("mismatch")
		}
	}
}
