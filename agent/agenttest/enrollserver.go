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
)

// EnrollRequest is the body an agent posts to /api/v1/agents/enroll.
type EnrollRequest struct {
	Token         string `json:"token"`
	Hostname      string `json:"hostname"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
	AgentVersion  string `json:"agent_version"`
	ResticVersion string `json:"restic_version"`
}

// EnrollAnswer is a successful enrollment answer.
type EnrollAnswer struct {
	HostID        string `json:"host_id"`
	HostName      string `json:"host_name"`
	MQTTURL       string `json:"mqtt_url"`
	MQTTPassword  string `json:"mqtt_password"`
	CACert        string `json:"ca_cert"`
	CAFingerprint string `json:"ca_fingerprint"`
}

// Reply decides what the stand-in server answers: a status and a raw body
// (raw so tests can answer with garbage).
type Reply func(EnrollRequest) (status int, body []byte)

// EnrollServer stands in for the server's enrollment endpoint over TLS. It
// is a test double of one HTTP endpoint, not of the server: the real server
// lives in a package the agent must not import.
type EnrollServer struct {
	// URL is the base URL to give the agent, https://127.0.0.1:port.
	URL string

	mu    sync.Mutex
	reqs  []EnrollRequest
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
func (s *EnrollServer) Requests() []EnrollRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]EnrollRequest(nil), s.reqs...)
}

func (s *EnrollServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/agents/enroll" {
		http.NotFound(w, r)
		return
	}
	var req EnrollRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		status, body := Answer(http.StatusBadRequest, "bad_request", "the body is not JSON")(req)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
		return
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	status, body := s.reply(req)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// Accept answers every enrollment with a.
func Accept(a EnrollAnswer) Reply {
	body, err := json.Marshal(a)
	if err != nil {
		panic(err)
	}
	return func(EnrollRequest) (int, []byte) { return http.StatusOK, body }
}

// Answer answers every enrollment with the server's error shape.
func Answer(status int, code, message string) Reply {
	body, _ := json.Marshal(map[string]string{"error": code, "message": message})
	return func(EnrollRequest) (int, []byte) { return status, body }
}
