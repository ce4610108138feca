package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestMain lets the test binary be its own child process: the loadgen
// re-executes itself ("child"), and under go test itself is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		if err := runChild(os.Stdin, os.Stdout, os.Stderr); err != nil {
			os.Stderr.WriteString("loadgen child: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// buildServerBin builds the real server binary for --spawn, as make build
// does (-trimpath, no symbol table or DWARF): trimmed, the build cache
// serves a fresh clone what any checkout compiled of the same sources
// (untrimmed it keys our packages by their directory: 16.5 s of CPU in a
// fresh clone against 0.9 s), and the link without DWARF is 4.4 s of CPU
// instead of 5.8 s.
func buildServerBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "restic-manager")
	out, err := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "../restic-manager").CombinedOutput()
	if err != nil {
		t.Fatalf("build the server: %v\n%s", err, out)
	}
	return bin
}

// TestLoadgenScenarios runs every scenario at a tiny size — 20 agents in
// 2 processes from 2 source addresses, against the real server binary it
// spawns, over MQTT with TLS — and checks the figures say what a healthy
// server does: every agent online after connect and after a restart
// storm, every dispatched job delivered and done, every ingested log line
// stored exactly once, the API and the dashboard answering.
func TestLoadgenScenarios(t *testing.T) {
	bin := buildServerBin(t)
	data := t.TempDir()
	var stdout, stderr bytes.Buffer
	o, err := parseOptions([]string{"--spawn", "--server-bin", bin, "--data", data, "--agents", "20", "--procs", "2",
		"--heartbeat", "1s", "--backoff-initial", "100ms", "--backoff-max", "1s", "--timeout", "60s",
		"--dispatch-jobs", "20", "--api-clients", "4", "--job-hosts", "20", "--ingest-jobs", "4",
		"--ingest-rate", "100", "--ingest-duration", "2s", "--api-requests", "3", "--json"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := run(ctx, o, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var f figures
	if err := json.Unmarshal(stdout.Bytes(), &f); err != nil {
		t.Fatalf("figures: %v\n%s", err, stdout.String())
	}
	if !f.TLS || f.Agents != 20 || f.Procs != 2 || f.Addrs != 2 || f.Setup.Enrolled != 20 || len(f.Failures) != 0 {
		t.Errorf("run: %+v", f)
	}
	if c := f.Connect; c == nil || c.Online != 20 || c.AllOnlineSeconds <= 0 || c.RSSAfterMiB <= 0 || c.ServerFDsPerAgent < 1 ||
		c.ServerFDsPeak <= 0 {
		t.Errorf("connect: %+v", c)
	}
	if a := f.API; a == nil || a.Hosts != 20 || a.HostsList.N != 3 || a.FirstPage.N != 3 || a.FirstPageKiB <= 0 ||
		a.Dashboard == nil || a.Dashboard.N != 3 || a.DashboardKiB <= 0 {
		t.Errorf("api: %+v", a)
	}
	// After the restart every agent resumes its TLS session: the new
	// server accepts the tickets the old one issued.
	if s := f.Storm; s == nil || s.TLSHandshakes < 20 || s.TLSResumed != s.TLSHandshakes {
		t.Errorf("storm's TLS handshakes: %+v", s)
	}
	if d := f.Dispatch; d == nil || d.Done != 20 || d.Errors != 0 || d.POST.N != 20 || d.ToAgent.N != 20 || d.Delivered.N != 20 ||
		d.Delivered.P50MS < d.ToAgent.P50MS {
		t.Errorf("dispatch: %+v", d)
	}
	if g := f.Ingest; g == nil || g.Expected != 4*100*2 || g.Stored != g.Expected || g.Lost != 0 || g.Doubled != 0 || g.APIErrors != 0 ||
		g.APIPost.N == 0 || g.LinesPerSecond <= 0 || g.APIClients != 4 || g.APIRate != 2 || g.AckWaitSeconds < 0 {
		t.Errorf("ingest: %+v", g)
	}
	// The API clients keep to --api-rate (a POST and a GET in turn), not
	// as fast as the server answers: the load runs a few seconds beyond
	// the jobs' end at most (setup, polling for the ends).
	if g := f.Ingest; g != nil && float64(g.APIPost.N) > float64(g.APIClients)*(g.APIRate/2*(g.ElapsedSeconds+5)+1) {
		t.Errorf("ingest: %d POSTs from %d clients at %g requests/s in %.1f s", g.APIPost.N, g.APIClients, g.APIRate, g.ElapsedSeconds)
	}
	if s := f.Storm; s == nil || s.Kind != "restart" || s.Online != 20 || s.LeftBehind != 0 || s.APIDownSeconds <= 0 || s.ServerFDsPeak <= 0 {
		t.Errorf("storm: %+v", s)
	}

	// A second run against the same data directory reuses the enrolled
	// identities from the credentials file, signs in to the dashboard of the
	// existing admin, and a drop storm brings every agent back, over plain
	// MQTT this time.
	stdout.Reset()
	o, err = parseOptions([]string{"--spawn", "--server-bin", bin, "--data", data, "--agents", "20", "--procs", "1",
		"--heartbeat", "1s", "--backoff-initial", "100ms", "--timeout", "60s", "--scenario", "api,storm", "--api-requests", "1", "--storm", "drop", "--plain", "--json"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, o, &stdout, &stderr); err != nil {
		t.Fatalf("second run: %v\n%s", err, stderr.String())
	}
	f = figures{}
	if err := json.Unmarshal(stdout.Bytes(), &f); err != nil {
		t.Fatal(err)
	}
	if f.Setup.Reused != 20 || f.Setup.Enrolled != 0 || f.TLS || f.API == nil || f.API.Dashboard == nil || f.Storm == nil || f.Storm.Kind != "drop" || f.Storm.Online != 20 || f.Storm.LeftBehind != 0 {
		t.Errorf("second run: setup %+v, api %+v, storm %+v", f.Setup, f.API, f.Storm)
	}
}

// TestOptionsRefuse: flags that cannot work together are refused with a
// sentence, before anything starts.
func TestOptionsRefuse(t *testing.T) {
	for _, args := range [][]string{
		{},                                      // neither --spawn nor --server
		{"--spawn", "--server", "http://x"},     // both
		{"--server", "http://x", "--token", ""}, // no token
		{"--spawn", "--agents", "2", "--procs", "3"},
		{"--spawn", "--scenario", "nope"},
		{"--server", "http://x", "--token", "t", "--storm", "restart"},
		{"--server", "http://x", "--token", "t", "--plain"},
		{"--spawn", "--agents", "10", "--ingest-jobs", "20"},
		{"--spawn", "--api-rate", "-1"},
	} {
		var stderr bytes.Buffer
		t.Setenv("RM_API_TOKEN", "")
		if _, err := parseOptions(args, &stderr); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// TestListenerPID: with --server and no --server-pid, the server's process
// is the one listening on the URL's port.
func TestListenerPID(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	if got := serverPIDOf(fmt.Sprintf("http://127.0.0.1:%d", port)); got != os.Getpid() {
		t.Errorf("serverPIDOf(port %d) = %d, want this process %d", port, got, os.Getpid())
	}
	ln.Close()
	if got := listenerPID(port); got != 0 {
		t.Errorf("listenerPID(%d) after close = %d, want 0", port, got)
	}
}
