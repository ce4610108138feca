package agenttest

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// Reply decides what the stand-in server answers: a status and a raw body
// (raw so tests can answer with garbage).
type Reply func(topics.EnrollRequest) (status int, body []byte)

// EnrollServer stands in for the server's enrollment endpoint over TLS. It
// is a test double of one HTTP endpoint, not of the server: the real server
// lives in a package the agent must not import.
type EnrollServer struct {
	// URL is the base URL to give the agent, https://127.0.0.1:port.
	URL string

	mu    sync.Mutex
	reqs  []topics.EnrollRequest
	reply Reply
}

// NewEnrollServer starts a TLS server with tlsCfg (see CA.ServerTLS)
// answering enrollments with reply. It is closed when the test ends.
func NewEnrollServer(tb testing.TB, tlsCfg *tls.Config, reply Reply) *EnrollServer {
	tb.Helper()
	s := &EnrollServer{reply: reply}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	srv.TLS = tlsCfg
	// Refused handshakes are what several tests are about; keep them quiet.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Requests returns the enrollment requests received so far.
func (s *EnrollServer) Requests() []topics.EnrollRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]topics.EnrollRequest(nil), s.reqs...)
}

func (s *EnrollServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != topics.EnrollPath {
		http.NotFound(w, r)
		return
	}
	data, _ := io.ReadAll(io.LimitReader(r.Body, topics.MaxEnrollBody+1))
	req, err := topics.DecodeEnrollRequest(data)
	if err != nil {
		status, body := Answer(http.StatusBadRequest, "bad_request", err.Error())(topics.EnrollRequest{})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
		return
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, *req)
	s.mu.Unlock()
	status, body := s.reply(*req)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// Accept answers every enrollment with a (sent as it is, even if invalid:
// tests check what the agent does with a bad answer).
func Accept(a topics.EnrollResponse) Reply {
	body, err := json.Marshal(a)
	if err != nil {
		panic(err)
	}
	return func(topics.EnrollRequest) (int, []byte) { return http.StatusOK, body }
}

// Answer answers every enrollment with the server's error shape.
func Answer(status int, code, message string) Reply {
	body, _ := json.Marshal(map[string]string{"error": code, "message": message})
	return func(topics.EnrollRequest) (int, []byte) { return status, body }
}
