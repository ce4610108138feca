package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// TestMetricsExportAdmissionCounters: /metrics carries the embedded
// broker's admission counters (broker/admission.go): with one handshake
// slot, a connection that started its CONNECT holds it and a second one
// waits in line, and rm_broker_handshakes_queued_total says 1.
func TestMetricsExportAdmissionCounters(t *testing.T) {
	t.Parallel()
	m := startServer(t, t.TempDir(), "127.0.0.1:0", func(m *Main) {
		m.MQTTAddr = "127.0.0.1:0"
		m.BrokerConfig.MaxHandshakes, m.BrokerConfig.MaxHandshakesPerAddr = 1, -1
	})
	token, err := m.Service().CreateAPIToken(t.Context(), server.CLIActor(), "admin", "metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics := func() string {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", m.HTTPURL()+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for _, name := range []string{"handshakes_queued", "admission_timeouts", "unavailable", "tls_handshakes", "tls_resumed", "retained_replayed"} {
		if want := "rm_broker_" + name + "_total 0"; !strings.Contains(metrics(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The first byte of a CONNECT takes the one slot; a second connection
	// that starts its CONNECT waits for it.
	for range 2 {
		c, err := net.Dial("tcp", m.Broker().TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write([]byte{0x10}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "/metrics to count the queued handshake", 20*time.Second, func() bool {
		return strings.Contains(metrics(), "rm_broker_handshakes_queued_total 1\n")
	})
}
