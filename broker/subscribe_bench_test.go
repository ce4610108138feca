package broker_test

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/broker/brokertest"
	"github.com/restic-manager/restic-manager/topics"
)

// BenchmarkAgentConnectSubscribe is the broker's side of a restart storm
// after the handshake: clients agents (plain MQTT, no TLS) connect and
// subscribe to their down/# while the broker retains one monitor state
// per host of a 10,000-host fleet, as the server's does. It reports the
// process's CPU per agent (user + system, the test clients' included).
//
//	go test -run '^$' -bench AgentConnectSubscribe -benchtime 1x ./broker/
func BenchmarkAgentConnectSubscribe(b *testing.B) {
	const clients, fleet = 1000, 10000
	var cpu float64
	for b.Loop() {
		tb := startBroker(b, func(c *broker.Config) {
			c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) // the server's level
		})
		for i := range fleet {
			if err := tb.Publish(topics.MonitorHostTopic(fmt.Sprintf("h_fleet%05d", i)), []byte(`{"state":"online"}`), true, 1); err != nil {
				b.Fatal(err)
			}
		}
		ids := addMemClients(b, tb, clients)
		conns := make([]*rawClient, clients)
		cpu0 := brokertest.ProcessCPU()
		for i, id := range ids {
			conns[i] = dialRaw(b, tb.TCPAddr())
			if code := conns[i].connect(b, connectPacket(4, id, password(id))); code != 0 {
				b.Fatalf("CONNECT %s: reason %d", id, code)
			}
			if ack := conns[i].ack(b, subscribePacket(b, 4, 1, topics.HostDownFilter(id)), packets.Suback); ack.ReasonCodes[0] != 1 {
				b.Fatalf("SUBACK %s: %v", id, ack.ReasonCodes)
			}
		}
		cpu = float64((brokertest.ProcessCPU() - cpu0).Microseconds()) / clients
	}
	b.ReportMetric(cpu, "CPU-µs/agent")
}
