package broker_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/broker/brokertest"
	"github.com/restic-manager/restic-manager/topics"
)

// BenchmarkHeapPerClient connects clients connected agents (raw MQTT
// 3.1.1 over loopback, in this process) and reports the heap in use per
// client, with mochi's default write queue (8,192 slots) and with ours
// (DefaultMaxClientWritesPending), side by side. The figure includes the
// test client's own side of the connection (a 4 KiB reader, the socket).
func BenchmarkHeapPerClient(b *testing.B) {
	const clients = 500
	for _, c := range []struct {
		name    string
		pending int
	}{{"pending=mochi-default", int(mqtt.NewDefaultServerCapabilities().MaximumClientWritesPending)}, {"pending=default", 0}} {
		b.Run(c.name, func(b *testing.B) {
			var perClient float64
			for b.Loop() {
				tb := startBroker(b, func(cfg *broker.Config) { cfg.MaxClientWritesPending = c.pending })
				ids := addMemClients(b, tb, clients)
				before := heapInUse()
				conns := make([]*rawClient, clients)
				for i, id := range ids {
					conns[i] = dialRaw(b, tb.TCPAddr())
					if code := conns[i].connect(b, connectPacket(4, id, password(id))); code != 0 {
						b.Fatalf("CONNECT %s: reason %d", id, code)
					}
				}
				perClient = (float64(heapInUse()) - float64(before)) / clients / 1024
				for _, rc := range conns {
					_ = rc.conn.Close()
				}
				runtime.KeepAlive(conns)
			}
			b.ReportMetric(perClient, "heap-KiB/client")
		})
	}
}

// BenchmarkHeapPerTLSClient is BenchmarkHeapPerClient over the TLS listener,
// as agents connect: the heap in use per connected client (a GC before and
// after; it includes the test client's side of each TLS connection, about
// a third of the figure: the server's part alone is in the heap profile,
// -memprofile with pprof -focus 'broker.\(\*listener\)'), the goroutine
// stacks per client (StackInuse, which also counts stacks Go keeps cached)
// and the goroutines per client (the test clients have none). Run it
// without -race: the race detector doubles the stacks.
//
//	go test -run '^$' -bench HeapPerTLSClient -benchtime 1x ./broker/
func BenchmarkHeapPerTLSClient(b *testing.B) {
	const clients = 1000
	cert, pool := selfSigned(b)
	var heap, stack, settled, goroutines float64
	for b.Loop() {
		tb := startBroker(b, func(c *broker.Config) {
			c.TCPAddr = ""
			c.TLSAddr = "127.0.0.1:0"
			c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		})
		ids := addMemClients(b, tb, clients)
		var ms0, ms1 runtime.MemStats
		heap0, g0 := heapInUse(), runtime.NumGoroutine()
		runtime.ReadMemStats(&ms0)
		conns := make([]*rawClient, clients)
		for i, id := range ids {
			conns[i] = connectTLS(b, tb, pool, connectPacket(4, id, password(id)))
		}
		heap = (float64(heapInUse()) - float64(heap0)) / clients / 1024
		runtime.ReadMemStats(&ms1)
		stack = (float64(ms1.StackInuse) - float64(ms0.StackInuse)) / clients / 1024
		goroutines = float64(runtime.NumGoroutine()-g0) / clients
		// The stacks the clients' goroutines keep: StackInuse with them,
		// settled (Go shrinks a stack by at most half per GC), less
		// StackInuse once they ended (so the stacks Go keeps cached for
		// new goroutines are counted on neither side).
		settle := func() uint64 {
			for range 6 {
				runtime.GC()
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.StackInuse
		}
		with := settle()
		for _, rc := range conns {
			_ = rc.conn.Close()
		}
		waitFor(b, "the clients' goroutines to end", func() bool { return runtime.NumGoroutine() <= g0 })
		settled = (float64(with) - float64(settle())) / clients / 1024
	}
	b.ReportMetric(heap, "heap-KiB/client")
	b.ReportMetric(stack, "stack-KiB/client")
	b.ReportMetric(settled, "stack-kept-KiB/client")
	b.ReportMetric(goroutines, "goroutines/client")
}

// connectTLS connects a raw client over tb's TLS listener with the CONNECT
// pk, which must be accepted.
func connectTLS(b *testing.B, tb *testBroker, pool *x509.CertPool, pk packets.Packet) *rawClient {
	raw, err := net.DialTimeout("tcp", tb.TLSAddr().String(), 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	tc := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	rc := &rawClient{conn: tc, r: bufio.NewReaderSize(tc, 16), version: 4}
	if code := rc.connect(b, pk); code != 0 {
		b.Fatalf("CONNECT %s: reason %d", pk.Connect.ClientIdentifier, code)
	}
	return rc
}

// addMemClients registers n agent identities with tb's authenticator.
func addMemClients(b *testing.B, tb *testBroker, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("h_mem%05d", i)
		id, err := broker.ParseIdentity(ids[i])
		if err != nil {
			b.Fatal(err)
		}
		if err := tb.auth.Add(id, password(ids[i])); err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// BenchmarkCloseWithTLSClients closes a broker with clients connected
// agents over TLS (each with a Will, and an inline subscription to the
// agents' status topics as the server has; the log at the server's level)
// and reports the process's CPU
// time (user + system) the Close took per client, and its wall time.
//
//	go test -run '^$' -bench CloseWithTLSClients -benchtime 1x ./broker/
func BenchmarkCloseWithTLSClients(b *testing.B) {
	const clients = 1000
	cert, pool := selfSigned(b)
	var cpu, wall float64
	for b.Loop() {
		tb := startBroker(b, func(c *broker.Config) {
			c.TCPAddr = ""
			c.TLSAddr = "127.0.0.1:0"
			c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			c.OnDisconnect = nil
			// As the server logs: Info and above, as text (to nowhere,
			// so the figure leaves out the writes).
			c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		})
		var wills atomic.Int64
		if err := tb.Subscribe(topics.AllHostsUpFilter, func(broker.Message) { wills.Add(1) }); err != nil {
			b.Fatal(err)
		}
		ids := addMemClients(b, tb, clients)
		conns := make([]*rawClient, clients)
		for i, id := range ids {
			pk := connectPacket(4, id, password(id))
			pk.Connect.WillFlag = true
			pk.Connect.WillTopic = topics.StatusTopic(id)
			pk.Connect.WillPayload = []byte(`{"state":"offline"}`)
			conns[i] = connectTLS(b, tb, pool, pk)
		}
		runtime.GC() // the connects' garbage is not the Close's
		cpu0, start := brokertest.ProcessCPU(), time.Now()
		if err := tb.Close(); err != nil {
			b.Fatal(err)
		}
		wall = float64(time.Since(start).Microseconds()) / clients
		cpu = float64((brokertest.ProcessCPU() - cpu0).Microseconds()) / clients
		b.Logf("%d Wills delivered while closing", wills.Load())
		for _, rc := range conns {
			_ = rc.conn.Close()
		}
	}
	b.ReportMetric(cpu, "close-CPU-µs/client")
	b.ReportMetric(wall, "close-wall-µs/client")
}
