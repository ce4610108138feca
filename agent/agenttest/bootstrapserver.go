package agenttest

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// BootstrapServer stands in for the server's bootstrap endpoint over TLS.
type BootstrapServer struct {
	// URL is the base URL to give the agent, https://127.0.0.1:port.
	URL  string
	hits atomic.Int32
}

// NewBootstrapServer starts a TLS server with tlsCfg (see CA.ServerTLS)
// answering the bootstrap endpoint with answer. It is closed when the test
// ends.
func NewBootstrapServer(tb testing.TB, tlsCfg *tls.Config, answer topics.BootstrapResponse) *BootstrapServer {
	tb.Helper()
	body, err := json.Marshal(answer)
	if err != nil {
		tb.Fatal(err)
	}
	s := &BootstrapServer{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != topics.BootstrapPath {
			http.NotFound(w, r)
			return
		}
		s.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	srv.TLS = tlsCfg
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected in some tests
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Requests is how many bootstrap requests were answered.
func (s *BootstrapServer) Requests() int { return int(s.hits.Load()) }
