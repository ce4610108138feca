package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
)

// serve --pprof serves the runtime profiles on a loopback address only:
// any other address is refused before anything listens.
func TestServePprofLoopbackOnly(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:6060", "localhost", "example.org:6060"} {
		if err := servePprof(addr, log); err == nil {
			t.Errorf("--pprof %s accepted; want only loopback addresses", addr)
		}
	}
	// A free loopback port, then the profiles on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := servePprof(addr, log); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Fatalf("goroutine profile: HTTP %d, %d bytes", resp.StatusCode, len(body))
	}
}
