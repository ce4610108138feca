package web

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// healthAnswer is GET /healthz's status and body.
func healthAnswer(t *testing.T, b *client) (int, map[string]string) {
	t.Helper()
	res := b.get("/healthz")
	var body map[string]string
	if err := json.Unmarshal([]byte(res.body), &body); err != nil {
		t.Fatalf("/healthz body %q: %v", res.body, err)
	}
	return res.StatusCode, body
}

// waitHealth polls /healthz until it answers want, for at most 20 s.
func waitHealth(t *testing.T, b *client, want int) map[string]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := healthAnswer(t, b)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz still %d %v, want %d", code, body, want)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, not synchronisation
	}
}

// /healthz said ok while the database could not be written. Another
// process holding the write lock (as a stuck CLI or a copy tool would) makes
// it 503 with the reason; once the lock goes, it is ok again.
func TestHealthReportsADatabaseThatCannotBeWritten(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	if code, body := healthAnswer(t, b); code != http.StatusOK || body["status"] != "ok" || body["version"] != "test" {
		t.Fatalf("healthy server: %d %v", code, body)
	}

	other, err := server.OpenDB(app.svc.DB().Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	body := waitHealth(t, b, http.StatusServiceUnavailable)
	if body["status"] != "unavailable" || body["reason"] == "" || body["version"] != "test" {
		t.Errorf("503 body %v, want status unavailable with a reason", body)
	}

	if _, err := conn.ExecContext(t.Context(), `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if body := waitHealth(t, b, http.StatusOK); body["status"] != "ok" || body["reason"] != "" {
		t.Errorf("recovered: %v", body)
	}
}
