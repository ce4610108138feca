package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/server"
)

var (
	serverBinOnce sync.Once
	serverBin     string
	serverBinErr  error
)

// buildServer builds the real server binary once (benchmarks, CLI tests).
func buildServer(b testing.TB) string {
	serverBinOnce.Do(func() {
		serverBin = filepath.Join(filepath.Dir(agentBin), "restic-manager")
		out, err := exec.Command("go", "build", "-o", serverBin, ".").CombinedOutput()
		if err != nil {
			serverBinErr = fmt.Errorf("build server: %v\n%s", err, out)
		}
	})
	if serverBinErr != nil {
		b.Fatal(serverBinErr)
	}
	return serverBin
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

// rssBytes reads a process's resident set size from /proc.
func rssBytes(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
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

// BenchmarkFleetConnect connects N real agents (the agent package, in this
// process) with real credentials to the real server binary and reports the
// time until the server shows all N online, and the server's RSS per agent.
func BenchmarkFleetConnect(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchFleet(b, n)
			}
		})
	}
}

func benchFleet(b *testing.B, n int) {
	b.StopTimer()
	dir := b.TempDir()
	srv := startServerProc(b, filepath.Join(dir, "data"))

	// Enroll n hosts through the domain on the live server's data directory
	// (what the CLI subcommands do), keeping the credentials.
	svc, err := openService(filepath.Join(dir, "data"), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	cfgs := make([]*agent.Config, n)
	for i := range cfgs {
		res := enrollBenchHost(b, svc, fmt.Sprintf("bench-%05d", i))
		cfgs[i] = &agent.Config{HostID: res.HostID, MQTTURL: "mqtt://" + srv.mqttAddr, MQTTPassword: res.MQTTPassword,
			StateDir: filepath.Join(dir, "agents", strconv.Itoa(i)), ResticBinary: filepath.Join(dir, "no-restic")}
	}
	rssBefore := rssBytes(srv.cmd.Process.Pid)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	b.StartTimer()
	start := time.Now()
	for _, cfg := range cfgs {
		a, err := agent.New(cfg, quiet, agent.WithHeartbeatInterval(2*time.Second), agent.WithBackoff(200*time.Millisecond, 5*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); a.Run(runCtx) }()
	}
	online := 0
	deadline := time.Now().Add(5 * time.Minute)
	for online < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d hosts online after 5 minutes", online, n)
		}
		time.Sleep(100 * time.Millisecond)
		hosts, err := svc.ListHosts(ctx) // reads the store the server flushes once a second
		if err != nil {
			b.Fatal(err)
		}
		online = 0
		for _, h := range hosts {
			if h.Online && h.AgentVersion != "bench" {
				online++
			}
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	// Let heartbeats flow for a few intervals before measuring steady-state memory.
	time.Sleep(5 * time.Second)
	rssAfter := rssBytes(srv.cmd.Process.Pid)
	stop()
	wg.Wait()

	b.ReportMetric(elapsed.Seconds(), "s-all-online")
	b.ReportMetric(float64(elapsed.Microseconds())/float64(n), "µs-per-agent")
	b.ReportMetric(float64(rssAfter-rssBefore)/float64(n)/1024, "KiB-rss/agent")
	b.Logf("%d agents: all online in %s; server RSS %d MiB -> %d MiB (%.1f KiB per agent)",
		n, elapsed.Round(time.Millisecond), rssBefore>>20, rssAfter>>20, float64(rssAfter-rssBefore)/float64(n)/1024)
}
