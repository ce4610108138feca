package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/server"
)

// benchEnv is the real server binary in its own process (so its CPU can be
// measured apart) and one real agent in this process, with an API token.
type benchEnv struct {
	b      *testing.B
	dir    string
	srv    *serverProc
	api    apiClient
	hostID string
	stop   context.CancelFunc
	done   chan struct{}
}

func newBenchEnv(b *testing.B, resticBinary string) *benchEnv {
	b.Helper()
	return newBenchEnvWith(b, resticBinary, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// newBenchEnvWith is newBenchEnv with the agent's logger and options.
func newBenchEnvWith(b *testing.B, resticBinary string, logger *slog.Logger, opts ...agent.Option) *benchEnv {
	b.Helper()
	dir := b.TempDir()
	srv := startServerProc(b, filepath.Join(dir, "data"))
	svc, err := openService(filepath.Join(dir, "data"), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	token, err := svc.CreateAPIToken(ctx, server.CLIActor(), "admin", "bench")
	if err != nil {
		b.Fatal(err)
	}
	res := enrollBenchHost(b, svc, "bench-host")
	cfg := &agent.Config{HostID: res.HostID, MQTTURL: "mqtt://" + srv.mqttAddr, MQTTPassword: res.MQTTPassword,
		StateDir: filepath.Join(dir, "agent"), ResticBinary: resticBinary, ServerURL: srv.webURL}
	a, err := agent.New(cfg, logger, append([]agent.Option{agent.WithBackoff(100*time.Millisecond, time.Second)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	e := &benchEnv{b: b, dir: dir, srv: srv, api: apiClient{t: b, base: srv.webURL, token: token}, hostID: res.HostID,
		stop: stop, done: make(chan struct{})}
	go func() { defer close(e.done); a.Run(runCtx) }()
	b.Cleanup(func() { stop(); <-e.done })
	waitFor(b, "bench agent online", 30*time.Second, func() bool {
		var h hostJSON
		return e.api.do("GET", "/api/v1/hosts/"+e.hostID, nil, &h) == http.StatusOK && h.Online
	})
	return e
}

// setRepository sets the repository and waits for its init job to end.
func (e *benchEnv) setRepository(repo, password string) {
	e.b.Helper()
	before := e.latest("init")
	if code := e.api.do("PUT", "/api/v1/hosts/"+e.hostID+"/repository", map[string]any{"url": repo, "password": password}, nil); code >= 300 {
		e.b.Fatalf("set repository: HTTP %d", code)
	}
	var id int64
	waitFor(e.b, "init job", 10*time.Second, func() bool { id = e.latest("init"); return id != 0 && id != before })
	if j := e.wait(id, 5*time.Minute, 50*time.Millisecond); j.Status != "succeeded" {
		e.b.Fatalf("init: %+v", j)
	}
}

func (e *benchEnv) latest(kind string) int64 {
	var list struct {
		Jobs []jobJSON `json:"jobs"`
	}
	e.api.do("GET", "/api/v1/jobs?host="+e.hostID+"&kind="+kind, nil, &list)
	if len(list.Jobs) == 0 {
		return 0
	}
	return list.Jobs[0].ID
}

// run queues a job and returns its id.
func (e *benchEnv) run(body map[string]any) int64 {
	e.b.Helper()
	var j jobJSON
	if code := e.api.do("POST", "/api/v1/hosts/"+e.hostID+"/jobs", body, &j); code >= 300 || j.ID == 0 {
		e.b.Fatalf("create job: HTTP %d", code)
	}
	return j.ID
}

// wait polls a job until it is terminal.
func (e *benchEnv) wait(id int64, timeout, every time.Duration) jobJSON {
	e.b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var j jobJSON
		e.api.do("GET", fmt.Sprintf("/api/v1/jobs/%d", id), nil, &j)
		if j.terminal() {
			return j
		}
		if time.Now().After(deadline) {
			e.b.Fatalf("job %d still %s after %s", id, j.Status, timeout)
		}
		time.Sleep(every)
	}
}

// cpuTicks is a process's user+system CPU time from /proc, in seconds.
func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// buildFakeRestic builds testdata/fakerestic (see its doc).
func buildFakeRestic(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "fakerestic")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/fakerestic").CombinedOutput(); err != nil {
		b.Fatalf("build fakerestic: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkLogPipeline runs one job whose "restic" prints 5,000 lines a
// second for 30 seconds (RM_BENCH_LOG_SECONDS to change) and checks that
// every line is stored exactly once; it reports the server process's CPU
// time and how long a line takes from the moment restic printed it until
// a browser watching the job page receives it over SSE.
func BenchmarkLogPipeline(b *testing.B) {
	seconds := 30.0
	if v, err := strconv.ParseFloat(os.Getenv("RM_BENCH_LOG_SECONDS"), 64); err == nil && v > 0 {
		seconds = v
	}
	const rate = 5000
	e := newBenchEnv(b, buildFakeRestic(b))
	e.setRepository(filepath.Join(e.dir, "fake-repo"), "fake password")
	src := filepath.Join(e.dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		b.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"lines_per_sec": %d, "seconds": %g}`, rate, seconds)
	if err := os.WriteFile(filepath.Join(src, "fake-restic.json"), []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cpu0 := cpuSeconds(e.srv.cmd.Process.Pid)
		start := time.Now()
		id := e.run(map[string]any{"kind": "backup", "paths": []string{src}})
		watch := watchJobSSE(b, e, id)
		j := e.wait(id, time.Duration(seconds*4+60)*time.Second, 200*time.Millisecond)
		elapsed := time.Since(start)
		cpu := cpuSeconds(e.srv.cmd.Process.Pid) - cpu0
		if j.Status != "succeeded" {
			b.Fatalf("job: %+v", j)
		}
		want := int(rate * seconds)
		code, body := e.api.send("GET", fmt.Sprintf("/api/v1/jobs/%d/log", id), nil)
		if code != http.StatusOK {
			b.Fatalf("job log: HTTP %d", code)
		}
		seen := make(map[int]bool, want)
		for _, l := range strings.Split(string(body), "\n") {
			var n int
			var ts int64
			if k := strings.Index(l, "line "); k >= 0 {
				if _, err := fmt.Sscanf(l[k:], "line %d t=%d", &n, &ts); err == nil {
					if seen[n] {
						b.Fatalf("line %d stored twice", n)
					}
					seen[n] = true
				}
			}
		}
		if len(seen) != want {
			b.Fatalf("%d of %d lines stored", len(seen), want)
		}
		delays := watch.stop()
		b.ReportMetric(cpu, "server-cpu-s")
		b.ReportMetric(100*cpu/elapsed.Seconds(), "server-cpu-%")
		b.ReportMetric(float64(delays.p50.Milliseconds()), "ms-sse-p50")
		b.ReportMetric(float64(delays.p99.Milliseconds()), "ms-sse-p99")
		b.Logf("%d lines in %.0f s: all stored once; server CPU %.2f s (%.0f%% of one core); line → SSE delay p50 %s, p99 %s, max %s (%d lines seen over SSE)",
			want, seconds, cpu, 100*cpu/elapsed.Seconds(), delays.p50, delays.p99, delays.max, delays.n)
	}
}

// sseDelays summarises how late log lines reached an SSE watcher.
type sseDelays struct {
	n             int
	p50, p99, max time.Duration
}

// sseWatch is a signed-in browser's event stream for one job page.
type sseWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
	delays []time.Duration
}

func (w *sseWatch) stop() sseDelays {
	time.Sleep(500 * time.Millisecond) // the last tick's lines
	w.cancel()
	<-w.done
	d := w.delays
	if len(d) == 0 {
		return sseDelays{}
	}
	slices.Sort(d)
	return sseDelays{n: len(d), p50: d[len(d)/2], p99: d[len(d)*99/100], max: d[len(d)-1]}
}

var sseLineRE = regexp.MustCompile(`line (\d+) t=(\d+)`)

// watchJobSSE opens the job page's event stream (/events?job=ID) with a
// session of the admin, as the page's HTMX does, and records for every log
// line received the time since fakerestic printed it.
func watchJobSSE(b *testing.B, e *benchEnv, id int64) *sseWatch {
	b.Helper()
	svc, err := openService(filepath.Join(e.dir, "data"), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	u, err := svc.UserByName(context.Background(), "admin")
	if err != nil {
		b.Fatal(err)
	}
	cookie, _, err := svc.CreateSession(context.Background(), u, "127.0.0.1", "bench")
	svc.Close()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/events?job=%d&after=0", e.srv.webURL, id), nil)
	req.AddCookie(&http.Cookie{Name: "rm_session", Value: cookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("event stream: %v %v", err, resp)
	}
	w := &sseWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			now := time.Now().UnixNano()
			for _, m := range sseLineRE.FindAllStringSubmatch(sc.Text(), -1) {
				ts, _ := strconv.ParseInt(m[2], 10, 64)
				w.delays = append(w.delays, time.Duration(now-ts))
			}
		}
	}()
	return w
}
