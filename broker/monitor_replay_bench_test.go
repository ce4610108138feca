package broker_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/broker/brokertest"
	"github.com/restic-manager/restic-manager/topics"
)

// BenchmarkMonitorReplay is a monitor subscribing to the whole monitor tree
// of a 10,000-host fleet: the broker replays the 10,000 retained states to
// it at the pace of its connection (monitor_replay.go), and the monitor (a
// raw MQTT 3.1.1 client at QoS 0, Home Assistant's default, in this
// process) reads them all. It reports the states per second and the
// process's CPU per state (user + system, the client's reading included).
//
//	go test -run '^$' -bench MonitorReplay -benchtime 5x ./broker/
func BenchmarkMonitorReplay(b *testing.B) {
	const fleet, size = 10000, 300
	tb := startBroker(b, func(c *broker.Config) {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) // the server's level
	})
	retainFleet(b, tb, fleet, size, "v1")
	var cpu, wall time.Duration
	for b.Loop() {
		mon := dialRaw(b, tb.TCPAddr())
		if code := mon.connect(b, connectPacket(4, monitor, password(monitor))); code != 0 {
			b.Fatalf("CONNACK %#x", code)
		}
		cpu0, wall0 := brokertest.ProcessCPU(), time.Now()
		if ack := mon.ack(b, subscribeQoS0(b, 1, topics.MonitorFilter), packets.Suback); ack.ReasonCodes[0] != 0 {
			b.Fatalf("SUBACK %v", ack.ReasonCodes)
		}
		for n := 0; n < fleet; n++ {
			pk, err := mon.read()
			if err != nil || pk.FixedHeader.Type != packets.Publish || !pk.FixedHeader.Retain {
				b.Fatalf("state %d: %s retain=%v (%v)", n, packets.PacketNames[pk.FixedHeader.Type], pk.FixedHeader.Retain, err)
			}
		}
		cpu += brokertest.ProcessCPU() - cpu0
		wall += time.Since(wall0)
		_ = mon.conn.Close()
		waitFor(b, "the replay to end", func() bool { return tb.ReplaysActive() == 0 })
	}
	states := float64(b.N * fleet)
	b.ReportMetric(states/wall.Seconds(), "states/s")
	b.ReportMetric(float64(cpu.Microseconds())/states, "CPU-µs/state")
}
