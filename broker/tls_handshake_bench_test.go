//go:build unix

package broker_test

import (
	"crypto/tls"
	"io"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/broker/brokertest"
)

// BenchmarkTLSHandshake is what one agent connection's TLS costs, client
// and server together (one process): a full handshake against a resumed
// one (a session ticket, tls_tickets.go), each with Go's default key
// exchange (the hybrid post-quantum X25519MLKEM768) and with X25519 alone.
// It reports the CPU per handshake (user + system of the process, which
// the machine's other load does not inflate) and the wall time.
//
//	go test -run '^$' -bench TLSHandshake -benchtime 2000x ./broker/
func BenchmarkTLSHandshake(b *testing.B) {
	cert, pool := selfSigned(b)
	for _, kx := range []struct {
		name   string
		curves []tls.CurveID
	}{{"mlkem", nil}, {"x25519", []tls.CurveID{tls.X25519}}} {
		for _, resume := range []bool{false, true} {
			name := kx.name + "/full"
			if resume {
				name = kx.name + "/resumed"
			}
			b.Run(name, func(b *testing.B) {
				srv := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, CurvePreferences: kx.curves}
				ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
				if err != nil {
					b.Fatal(err)
				}
				defer ln.Close()
				go func() {
					for {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						go func() {
							defer c.Close()
							// A byte after the handshake: the ticket comes before it.
							if _, err := c.Write([]byte{0}); err == nil {
								_, _ = io.Copy(io.Discard, c)
							}
						}()
					}
				}()
				cli := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12, CurvePreferences: kx.curves}
				connect := func() bool {
					c, err := tls.Dial("tcp", ln.Addr().String(), cli)
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
						b.Fatal(err)
					}
					return c.ConnectionState().DidResume
				}
				if resume {
					cli.ClientSessionCache = tls.NewLRUClientSessionCache(1)
					connect()
				}
				cpu0, start := brokertest.ProcessCPU(), time.Now()
				b.ResetTimer()
				for range b.N {
					if connect() != resume {
						b.Fatalf("resumed: want %v", resume)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64((brokertest.ProcessCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/handshake")
				b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "wall-µs/handshake")
			})
		}
	}
}
