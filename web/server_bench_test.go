package web

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// BenchmarkNew is what starting the web layer costs once the process has
// started one: the static files are compressed and the templates parsed
// on the first New only (loadStatic, loadTemplates), which took a third of
// this package's test CPU when every test's server did it again (#12.6).
func BenchmarkNew(b *testing.B) {
	svc := servertest.MustOpenService(b, server.Options{})
	cfg := Config{MQTTURL: func(*http.Request) string { return "mqtts://rm.example.test:8883" }}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func() {
		w, err := New(cfg, svc, logger)
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	start() // the process's first
	for b.Loop() {
		start()
	}
}
