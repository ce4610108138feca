package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// agentBin is the real agent binary, built once for the package's tests.
var agentBin string

func TestMain(m *testing.M) {
	flag.Parse()
	waitingTestsInParallel()
	dir, err := os.MkdirTemp("", "rm-e2e-bin")
	if err != nil {
		panic(err)
	}
	agentBin = filepath.Join(dir, "restic-manager-agent")
	// The whole package (make test) needs the server binary too: its link
	// overlaps the agent's instead of holding up the first test that runs
	// it (half a minute of a test slot on a loaded machine). A run of
	// chosen tests builds it when one of them asks.
	wholePackage := flag.Lookup("test.run").Value.String() == "" && flag.Lookup("test.list").Value.String() == ""
	if wholePackage {
		go serverBuild()
	}
	if out, err := goBuild(agentBin, "../restic-manager-agent").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build agent: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	if wholePackage {
		serverBuild() // a build no test asked for ends before its directory goes
	}
	closeBrowser()
	servertest.StopPostgres()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goBuild is the `go build` of a binary the tests run, with the flags of
// the binaries `make` ships (CGO_ENABLED=0, -trimpath): the same build as
// the agents users get, and one whose compiled packages `make lint`'s
// cross builds already left in the build cache, so only the link is left
// to do. args go before the package (e.g. -ldflags).
func goBuild(out, pkg string, args ...string) *exec.Cmd {
	cmd := exec.Command("go", append(append([]string{"build", "-trimpath"}, args...), "-o", out, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd
}

// parallelTests is how many of the package's tests run at once unless
// -parallel says otherwise. They spend most of their time waiting (for an
// agent to connect, restic, Chromium, a cron slot, a restart), not on the
// CPU, so more of them than go test's default (GOMAXPROCS) overlap their
// waits even on two cores. The browser tests among them share two
// Chromium tabs (browserTabs) and wait for one after their setup; six
// leave room for the others beside two browser tests and two waiting for
// a tab.
const parallelTests = 6

// waitingTestsInParallel sets -parallel to parallelTests when the command
// line did not set it.
func waitingTestsInParallel() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if err := flag.Set("test.parallel", strconv.Itoa(parallelTests)); err != nil {
			panic(err)
		}
	}
}

// startServer runs a whole server (web, broker, store) on loopback. mqttsAddr
// may be "127.0.0.1:0"; a restart passes the address the first run got.
// tweak, if any, sets more of Main before it runs (e.g. AgentsDir).
func startServer(t testing.TB, dataDir, mqttsAddr string, tweak ...func(*Main)) *Main {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	// A data directory that does not exist yet gets the migrated database
	// servertest keeps, as the server's own tests do: a first start would
	// run every migration (about half a second of CPU under -race). One
	// the test made itself is left as it is (a first start for real).
	if _, err := os.Stat(dataDir); errors.Is(err, fs.ErrNotExist) {
		servertest.SeedDataDir(t, dataDir)
	}
	m := &Main{DataDir: dataDir, HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0", MQTTSAddr: mqttsAddr, Logger: logger, Stdout: io.Discard,
		AdminPassword: "admin password for tests"}
	for _, f := range tweak {
		f(m)
	}
	// Sign-ins at the real argon2id cost take seconds under -race; the
	// fixtures' cheap hash unless a tweak chose a cost.
	if m.ServiceOptions.PasswordHashCost == (server.PasswordHashCost{}) {
		m.ServiceOptions.PasswordHashCost = servertest.CheapPasswordHash()
	}
	if err := m.Run(t.Context()); err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// addUser creates a user on the running server through its Service and
// returns the password to sign in with. It is for tests whose subject is
// not the CLI: `user add` hashes at the production argon2id cost (about
// 3 s of CPU under -race, then as much again at each sign-in), where the
// server the tests start hashes at the fixtures' cheap cost.
func addUser(t testing.TB, m *Main, name string, role server.Role) string {
	t.Helper()
	servertest.MustCreateUser(t, m.Service(), name, role)
	return servertest.Password
}

// apiClient calls the JSON API with a bearer token.
type apiClient struct {
	t     testing.TB
	base  string
	token string
}

func (c apiClient) do(method, path string, body any, out any) int {
	c.t.Helper()
	code, data := c.send(method, path, body)
	if out != nil && code < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
	return code
}

// doRaw is do that decodes the body whatever the status (error bodies too).
func (c apiClient) doRaw(method, path string, body any, out any) int {
	c.t.Helper()
	code, data := c.send(method, path, body)
	if out != nil {
		_ = json.Unmarshal(data, out)
	}
	return code
}

// send makes one API call and returns the status and the body.
func (c apiClient) send(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// cli runs a restic-manager subcommand in-process and returns its stdout.
func cli(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(t.Context(), args, strings.NewReader(stdin), &out, &errOut); err != nil {
		t.Fatalf("restic-manager %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// lockedBuffer collects a child process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// agentProc is a running real agent process.
type agentProc struct {
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{}
}

func startAgent(t testing.TB, configPath string) *agentProc {
	t.Helper()
	return startAgentArgs(t, "run", "--config", configPath)
}

// startAgentArgs runs the agent binary with any subcommand.
func startAgentArgs(t testing.TB, args ...string) *agentProc {
	t.Helper()
	return startProc(t, nil, agentBin, args...)
}

// exited reports whether the process has ended.
func (p *agentProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *agentProc) stop(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
