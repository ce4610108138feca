package agenttest

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// BootstrapServer stands in for the server's bootstrap endpoint over TLS.
// By default it answers only GET, as a server before #15 did; with
// TakeRegistrations it also takes the announcing agent's registration of
// its pending client (POST, topics.BootstrapRequest).
type BootstrapServer struct {
	// URL is the base URL to give the agent, https://127.0.0.1:port.
	URL  string
	hits atomic.Int32

	mu            sync.Mutex
	takeRegs      bool
	refuseStatus  int    // answer registrations with this status, when set
	refuseMessage string // and this API error message
	passwords     map[string]string
	registrations int
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
	s := &BootstrapServer{passwords: make(map[string]string)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == topics.BootstrapPath && s.register(w, r, body) {
			return
		}
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

// register takes a registration when the server takes them, and reports
// whether it answered: a valid one is recorded and answered with answer
// (GET's), an invalid one or a set refusal with an API error.
func (s *BootstrapServer) register(w http.ResponseWriter, r *http.Request, answer []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.takeRegs {
		return false
	}
	data, _ := io.ReadAll(io.LimitReader(r.Body, topics.MaxEnrollBody+1))
	req, err := topics.DecodeBootstrapRequest(data)
	status, msg := s.refuseStatus, s.refuseMessage
	if err != nil {
		status, msg = http.StatusBadRequest, err.Error()
	}
	if status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": "refused", "message": msg})
		return true
	}
	s.passwords[req.Client] = req.Password
	s.registrations++
	w.Header().Set("Content-Type", "application/json")
	w.Write(answer)
	return true
}

// TakeRegistrations makes the server take pending clients' registrations.
func (s *BootstrapServer) TakeRegistrations() {
	s.mu.Lock()
	s.takeRegs = true
	s.mu.Unlock()
}

// RefuseRegistrations makes the server answer registrations with status and
// an API error carrying message.
func (s *BootstrapServer) RefuseRegistrations(status int, message string) {
	s.mu.Lock()
	s.takeRegs, s.refuseStatus, s.refuseMessage = true, status, message
	s.mu.Unlock()
}

// Password is the password client registered last, if it is registered.
func (s *BootstrapServer) Password(client string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.passwords[client]
	return p, ok
}

// Forget drops client's registration, as an external broker's expiry does.
func (s *BootstrapServer) Forget(client string) {
	s.mu.Lock()
	delete(s.passwords, client)
	s.mu.Unlock()
}

// Registrations is how many registrations were taken.
func (s *BootstrapServer) Registrations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.registrations
}
