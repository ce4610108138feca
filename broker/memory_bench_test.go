package broker_test

import (
	"fmt"
	"runtime"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/restic-manager/restic-manager/broker"
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
				ids := make([]string, clients)
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
