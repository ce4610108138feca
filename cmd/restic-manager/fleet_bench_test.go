package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	"github.com/restic-manager/restic-manager/server"
)

// serverBuild builds the real server binary once (benchmarks, CLI tests),
// with the flags this test binary was built with (testBinaryBuildFlags).
// Under the race detector (make test) it is a race build too: it links the
// packages go test -race has just compiled instead of compiling every one
// again (SQLite among them) without it, and the detector watches the
// binary the CLI tests run. Benchmarks run without -race and get the
// plain build they measure. TestMain starts it beside the agent's build
// when the whole package runs.
var serverBuild = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(filepath.Dir(agentBin), "restic-manager")
	args := append(append([]string{"build"}, testBinaryBuildFlags()...), "-o", bin, ".")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build server: %v\n%s", err, out)
	}
	return bin, nil
})

// buildServer is serverBuild's binary; it fails b if the build failed.
func buildServer(b testing.TB) string {
	bin, err := serverBuild()
	if err != nil {
		b.Fatal(err)
	}
	return bin
}

// testBinaryBuildFlags are the flags this test binary was built with that
// decide how packages compile: -race, -gcflags and -tags. Built with other
// ones, the server compiles the SQLite packages again (about a minute of
// CPU under -race, which the CLI tests wait for when the build cache lacks
// them) and runs them otherwise instrumented (docs/DECISIONS.md, #12.6).
// make test passes its several -gcflags in GOFLAGS, which go build
// inherits; this covers a go test run with -gcflags on its command line.
// The build info keeps only the last -gcflags, which repeated here changes
// nothing after GOFLAGS' own.
func testBinaryBuildFlags() []string {
	var flags []string
	if raceEnabled {
		flags = append(flags, "-race")
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-gcflags" || s.Key == "-tags" {
				flags = append(flags, s.Key+"="+s.Value)
			}
		}
	}
	return flags
}

// serverProc is the real server binary running as its own process, so its
// memory can be measured apart from the simulated agents.
type serverProc struct {
	cmd      *exec.Cmd
	mqttAddr string
	webURL   string
}

var servingRE = regexp.MustCompile(`web=(\S+) mqtt=(\S+)`)

func startServerProc(b *testing.B, dataDir string) *serverProc {
	cmd := exec.Command(buildServer(b), "serve", "--data", dataDir, "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0",
		"--mqtts", "", "--mqtt-conn-limit", "100000")
	cmd.Env = append(os.Environ(), "RM_ADMIN_PASSWORD=bench admin password")
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &serverProc{cmd: cmd}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
			p.webURL, p.mqttAddr = m[1], m[2]
			break
		}
	}
	if p.mqttAddr == "" {
		b.Fatal("server did not report its addresses")
	}
	go io.Copy(io.Discard, stderr)
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return p
}

// enrollBenchHost enrolls a host through the domain on the live server's
// data directory (what the CLI subcommands do) and returns its credentials.
func enrollBenchHost(b *testing.B, svc *server.Service, name string) *server.EnrollResult {
	b.Helper()
	ctx := context.Background()
	tok, _, err := svc.CreateEnrollmentToken(ctx, server.CLIActor(), name, 0)
	if err != nil {
		b.Fatal(err)
	}
	res, err := svc.Enroll(ctx, server.EnrollRequest{Token: tok, Hostname: "bench", OS: "linux", Arch: "amd64", AgentVersion: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return res
}

// BenchmarkFleet runs the load generator (cmd/restic-manager-loadgen:
// simulated agents speaking the real protocol over MQTT with TLS, from
// several processes and source addresses, and parallel API clients)
// against this server binary, at the CI-sized case, and reports its
// figures. RM_BENCH_LOADGEN_ARGS replaces the size and scenario flags;
// docs/scale.md has the 10,000-agent command and measured tables.
func BenchmarkFleet(b *testing.B) {
	srv := buildServer(b)
	lg := filepath.Join(filepath.Dir(srv), "restic-manager-loadgen")
	if out, err := exec.Command("go", "build", "-o", lg, "../restic-manager-loadgen").CombinedOutput(); err != nil {
		b.Fatalf("build the load generator: %v\n%s", err, out)
	}
	args := strings.Fields(os.Getenv("RM_BENCH_LOADGEN_ARGS"))
	if len(args) == 0 {
		args = strings.Fields(ciLoadgenArgs)
	}
	args = append([]string{"--spawn", "--server-bin", srv, "--json"}, args...)
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(lg, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("loadgen %s: %v\n%s\n%s", strings.Join(args, " "), err, out, stderr.String())
		}
		var f loadgenFigures
		if err := json.Unmarshal(out, &f); err != nil {
			b.Fatalf("loadgen figures: %v\n%s", err, out)
		}
		f.report(b)
		b.Logf("loadgen %s:\n%s", strings.Join(args, " "), stderr.String())
	}
}

// ciLoadgenArgs is the CI-sized case: 200 agents in 2 processes, each
// scenario briefly.
const ciLoadgenArgs = "--agents 200 --procs 2 --dispatch-jobs 400 --job-hosts 200 --ingest-jobs 20 --ingest-rate 500 " +
	"--ingest-duration 10s --api-requests 20"

// loadgenFigures is the part of the load generator's --json output the
// benchmark reports (the command's own type lives in its main package).
type loadgenFigures struct {
	Connect *struct {
		AllOnline   float64 `json:"all_online_s"`
		RSSPerAgent float64 `json:"rss_per_agent_kib"`
		ServerFDs   float64 `json:"server_fds_per_agent"`
	} `json:"connect"`
	Storm *struct {
		AllOnline float64 `json:"all_online_s"`
	} `json:"storm"`
	Dispatch *struct {
		Delivered struct {
			P99 float64 `json:"p99_ms"`
		} `json:"delivered"`
	} `json:"dispatch"`
	Ingest *struct {
		LinesPerSecond float64 `json:"lines_per_s"`
		APIPost        struct {
			P99 float64 `json:"p99_ms"`
		} `json:"api_post"`
	} `json:"ingest"`
	API *struct {
		HostsList struct {
			P99 float64 `json:"p99_ms"`
		} `json:"hosts_list"`
	} `json:"api"`
}

func (f *loadgenFigures) report(b *testing.B) {
	if c := f.Connect; c != nil {
		b.ReportMetric(c.AllOnline, "s-all-online")
		b.ReportMetric(c.RSSPerAgent, "KiB-rss/agent")
		b.ReportMetric(c.ServerFDs, "server-fds/agent")
	}
	if s := f.Storm; s != nil {
		b.ReportMetric(s.AllOnline, "s-storm-back")
	}
	if d := f.Dispatch; d != nil {
		b.ReportMetric(d.Delivered.P99, "ms-delivered-p99")
	}
	if g := f.Ingest; g != nil {
		b.ReportMetric(g.LinesPerSecond, "lines/s")
		b.ReportMetric(g.APIPost.P99, "ms-api-post-p99-ingest")
	}
	if a := f.API; a != nil {
		b.ReportMetric(a.HostsList.P99, "ms-hosts-list-p99")
	}
}
