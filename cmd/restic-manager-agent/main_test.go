package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/broker/brokertest"
	"github.com/restic-manager/restic-manager/topics"
)

// reexecEnv makes the test binary behave as restic-manager-agent, so the
// end-to-end test can run the real main (signals, exit code) in a child.
const reexecEnv = "RM_AGENT_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(reexecEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// runCLI runs one command line in-process.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		getenv:   func(k string) string { return env[k] },
		unsetenv: func(k string) error { delete(env, k); return nil },
	}
	code = c.main(args)
	return code, out.String(), errOut.String()
}

func TestUsageAndVersion(t *testing.T) {
	cases := []struct {
		args    []string
		code    int
		stdout  string
		stderr  string
		oneLine bool // stderr is exactly one line
	}{
		{[]string{"version"}, 0, "restic-manager-agent dev\n", "", false},
		{[]string{"help"}, 0, "enroll --server URL --token T", "", false},
		{nil, 2, "", "Usage:", false},
		{[]string{"backup"}, 2, "", `unknown command "backup"`, true},
		{[]string{"announce"}, 2, "", "announce: --server is required", true},
		{[]string{"announce", "--server"}, 2, "", "flag needs an argument", false},
		{[]string{"announce", "--server", "https://backup.example.com", "extra"}, 2, "", `unexpected argument "extra"`, true},
		{[]string{"announce", "--server", "http://backup.example.com", "--config", "/nonexistent/agent.yaml"}, 1, "", "plain http", true},
		// Any existing file stands for an existing config: the test binary.
		{[]string{"announce", "--server", "https://backup.example.com", "--config", os.Args[0]}, 1, "", "--force", true},
		{[]string{"run", "--config"}, 2, "", "flag needs an argument", false},
		{[]string{"run", "extra"}, 2, "", `unexpected argument "extra"`, true},
		{[]string{"run", "--config", "/nonexistent/agent.yaml"}, 1, "", "enroll this host first", true},
		{[]string{"install", "--config", "/nonexistent/agent.yaml"}, 1, "", "enroll this host first", true},
		{[]string{"enroll", "--server", "https://backup.example.com"}, 1, "", "RM_ENROLL_TOKEN", true},
	}
	for _, tc := range cases {
		code, stdout, stderr := runCLI(t, map[string]string{}, "", tc.args...)
		if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d with %q / %q", tc.args, code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
		}
		if tc.oneLine && strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: stderr is not one line: %q", tc.args, stderr)
		}
	}
}

// TestVersionIsStampedByLdflags builds the agent as make agents does
// (CGO_ENABLED=0, -trimpath, -s -w): trimmed, the build reuses what make
// lint compiled for linux/amd64 instead of compiling the agent again for
// this checkout's directory (6.6 s -> 1.5 s of CPU in a fresh clone).
func TestVersionIsStampedByLdflags(t *testing.T) {
	goBin := agenttest.RequireBinary(t, "go")
	bin := filepath.Join(t.TempDir(), "restic-manager-agent")
	build := exec.Command(goBin, "build", "-trimpath", "-ldflags", "-s -w -X main.version=1.2.3-test", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || string(out) != "restic-manager-agent 1.2.3-test\n" {
		t.Fatalf("version: %q %v", out, err)
	}
}

// enrollServer starts a stand-in enrollment endpoint that accepts.
func enrollServer(t *testing.T) (*agenttest.CA, *agenttest.EnrollServer, topics.EnrollResponse) {
	ca := agenttest.NewCA(t, "test CA")
	answer := topics.EnrollResponse{ApprovedCredentials: topics.ApprovedCredentials{
		HostID: topics.RandomID(topics.HostIDPrefix), HostName: "web-1", MQTTURL: "mqtts://127.0.0.1:8883",
		MQTTPassword: "secret", CACert: ca.PEM, CAFingerprint: ca.Fingerprint(),
	}}
	return ca, agenttest.NewEnrollServer(t, ca.ServerTLS(t), agenttest.Accept(answer)), answer
}

func TestEnrollTokenSources(t *testing.T) {
	const token = "rmt_0123456789abcdef"
	cases := map[string]struct {
		flag  []string
		stdin string
		env   map[string]string
	}{
		"flag":  {[]string{"--token", token}, "", map[string]string{}},
		"stdin": {[]string{"--token", "-"}, token + "\n", map[string]string{}},
		"env":   {nil, "", map[string]string{agent.EnrollTokenEnv: token}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ca, srv, answer := enrollServer(t)
			path := filepath.Join(t.TempDir(), "agent.yaml")
			args := append([]string{"enroll", "--server", srv.URL, "--ca-fingerprint", ca.Fingerprint(),
				"--config", path, "--state-dir", t.TempDir()}, tc.flag...)
			code, stdout, stderr := runCLI(t, tc.env, tc.stdin, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stdout, "enrolled as web-1 ("+answer.HostID+")") {
				t.Fatalf("stdout %q", stdout)
			}
			if reqs := srv.Requests(); len(reqs) != 1 || reqs[0].Token != token {
				t.Fatalf("server got %+v", reqs)
			}
			if _, ok := tc.env[agent.EnrollTokenEnv]; ok {
				t.Fatal("the token variable was left in the environment for child processes")
			}
			if strings.Contains(stdout+stderr, token) {
				t.Fatal("the token was printed")
			}
			if _, err := agent.LoadConfig(path); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEnrollRefusalIsOneSentence(t *testing.T) {
	ca := agenttest.NewCA(t, "test CA")
	srv := agenttest.NewEnrollServer(t, ca.ServerTLS(t), agenttest.Answer(401, "invalid_token", "token already used"))
	path := filepath.Join(t.TempDir(), "agent.yaml")
	code, _, stderr := runCLI(t, map[string]string{}, "", "enroll", "--server", srv.URL, "--token", "rmt_x",
		"--ca-fingerprint", ca.Fingerprint(), "--config", path)
	want := "restic-manager-agent: enroll: the server refused the token: token already used"
	if code != 1 || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("config written after a refusal")
	}
}

// TestRunEndToEnd runs the real program as a child against the real broker
// and stops it with SIGTERM, as a service manager would.
func TestRunEndToEnd(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM is a unix service manager's stop signal")
	}
	auth := brokertest.NewStaticAuth()
	h := topics.RandomID(topics.HostIDPrefix)
	if err := auth.Add(broker.Identity{Role: broker.RoleHost, ID: h}, "pw-e2e"); err != nil {
		t.Fatal(err)
	}
	disconnected := make(chan struct{}, 1)
	b, err := broker.New(broker.Config{TCPAddr: "127.0.0.1:0", OnDisconnect: func(broker.Identity, uint64) {
		select {
		case disconnected <- struct{}{}:
		default:
		}
	}}, auth)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	up := make(chan broker.Message, 100)
	if err := b.Subscribe(topics.HostUpFilter(h), func(m broker.Message) { up <- m }); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "agent.yaml")
	cfg := &agent.Config{HostID: h, MQTTURL: "mqtt://" + b.TCPAddr().String(), MQTTPassword: "pw-e2e", StateDir: t.TempDir()}
	if err := cfg.SaveConfig(path); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "run", "--config", path)
	cmd.Env = append(os.Environ(), reexecEnv+"=1")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// hello, then the first heartbeat, which follows the hello's PUBACK.
	for _, want := range []string{topics.HelloTopic(h), topics.StatusTopic(h)} {
		select {
		case m := <-up:
			if m.Topic != want {
				t.Fatalf("message on %s, want %s", m.Topic, want)
			}
		case <-ctx.Done():
			t.Fatalf("nothing on %s from the agent; stderr:\n%s", want, stderr.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("agent exited with %v after SIGTERM; stderr:\n%s", err, stderr.String())
	}
	select {
	case <-disconnected:
	case <-ctx.Done():
		t.Fatal("the broker never saw the agent disconnect")
	}
	for len(up) > 0 {
		var s topics.Status
		if m := <-up; topics.Decode(m.Payload, &s) == nil && s.State == topics.StateOffline {
			t.Fatal("SIGTERM led to an offline Will: the disconnect was not clean")
		}
	}
	for _, want := range []string{"msg=connected", `msg="agent stopped"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "pw-e2e") {
		t.Error("the password is in the log")
	}
}

// syncBuffer is a bytes.Buffer the child's output goroutine and the test
// can use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
