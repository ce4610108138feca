package broker_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/broker/brokertest"
	"github.com/restic-manager/restic-manager/topics"
)

// BenchmarkTLSPublish is what the broker's read path costs an ingest: one
// agent over TLS publishes b.N QoS 0 messages of each size to its job log
// topic, an inline subscription takes them. It reports the process's CPU
// per message (user + system, the client's side included).
//
//	go test -run '^$' -bench TLSPublish ./broker/
func BenchmarkTLSPublish(b *testing.B) {
	cert, pool := selfSigned(b)
	for _, size := range []int{200, 16 << 10} {
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			tb := startBroker(b, func(c *broker.Config) {
				c.TCPAddr = ""
				c.TLSAddr = "127.0.0.1:0"
				c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
				c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) // the server's level
			})
			var got atomic.Int64
			if err := tb.Subscribe(topics.AllHostsUpFilter, func(broker.Message) { got.Add(1) }); err != nil {
				b.Fatal(err)
			}
			id := addMemClients(b, tb, 1)[0]
			rc := connectTLS(b, tb, pool, connectPacket(4, id, password(id)))
			var buf bytes.Buffer
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, ProtocolVersion: 4,
				TopicName: topics.JobLogTopic(id, "j_1"), Payload: bytes.Repeat([]byte("x"), size)}
			if err := pk.PublishEncode(&buf); err != nil {
				b.Fatal(err)
			}
			msg := buf.Bytes()
			cpu0 := brokertest.ProcessCPU()
			b.ResetTimer()
			for range b.N {
				if _, err := rc.conn.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
			deadline := time.Now().Add(time.Minute)
			for got.Load() < int64(b.N) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			if got.Load() < int64(b.N) {
				b.Fatalf("%d of %d messages delivered", got.Load(), b.N)
			}
			b.ReportMetric(float64((brokertest.ProcessCPU()-cpu0).Nanoseconds())/1e3/float64(b.N), "CPU-µs/msg")
		})
	}
}
