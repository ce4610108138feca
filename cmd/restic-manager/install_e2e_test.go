package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/install"
)

// TestInstallScriptEndToEnd runs install/install.sh for real, with /bin/sh as
// root, against the whole server serving the real agent binary. It refuses a
// CA other than the pinned one, https without a pin, an unreachable server
// and a user other than root. The one-liner from the token API does not run
// a script that is not the server's; the server's installs, checks and
// enrolls the agent under RM_ROOT with RM_NO_SERVICE=1, and the installed
// agent comes online. A re-run upgrades the binary in place and keeps config
// and state; a binary altered on the way is refused and nothing changes;
// --uninstall keeps config and state unless --purge. Without a token the
// script announces, prints the fingerprint and completes once the machine is
// accepted through the API.
func TestInstallScriptEndToEnd(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	agenttest.RequireBinary(t, "curl")
	if runtime.GOOS != "linux" {
		t.Skip("install.sh is run for real on Linux; its macOS paths are not exercised here")
	}
	dir := t.TempDir()
	dist := filepath.Join(dir, "dist")
	served := filepath.Join(dist, "restic-manager-agent-linux-"+runtime.GOARCH)
	first := publishAgent(t, dist, served, "v1.0.0-test", nil)
	m := startInstallServer(t, filepath.Join(dir, "data"), dist)
	apiToken := cli(t, "", "apitoken", "create", "--user", "admin", "--data", filepath.Join(dir, "data"))
	api := apiClient{t: t, base: m.HTTPURL(), token: apiToken}
	fp := m.TLS().Fingerprint

	// The token API, asked over HTTPS, answers with ready one-liners that
	// carry the URL, the token, the CA fingerprint and the hash of the
	// script they run.
	var tok struct {
		Token          string `json:"token"`
		InstallCommand string `json:"install_command"`
		InstallWindows string `json:"install_command_windows"`
	}
	createTokenOverTLS(t, m, apiToken, "shop-1", &tok)
	script, _ := install.Scripts.ReadFile("install.sh")
	scriptSum := sha256.Sum256(script)
	for _, part := range []string{m.HTTPSURL() + "/install.sh", "--token " + tok.Token, "--ca-fingerprint " + fp, hex.EncodeToString(scriptSum[:])} {
		if !strings.Contains(tok.InstallCommand, part) {
			t.Fatalf("install command lacks %q:\n%s", part, tok.InstallCommand)
		}
	}
	if !strings.Contains(tok.InstallWindows, "$env:RM_CA_FINGERPRINT='"+fp+"'") || !strings.Contains(tok.InstallWindows, m.HTTPSURL()+"/install.ps1") {
		t.Errorf("windows install command: %q", tok.InstallWindows)
	}

	// Refusals before anything is installed: a CA that is not the pinned
	// one, https without a pin, a server that does not answer.
	scriptPath := filepath.Join(dir, "install.sh")
	if err := os.WriteFile(scriptPath, script, 0o644); err != nil {
		t.Fatal(err)
	}
	refusals := filepath.Join(dir, "refused")
	otherCA := "SHA256:" + strings.Repeat("A", 43)
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"RM_SERVER=" + m.HTTPSURL(), "RM_TOKEN=" + tok.Token, "RM_CA_FINGERPRINT=" + otherCA}, "does not match RM_CA_FINGERPRINT"},
		{[]string{"RM_SERVER=" + m.HTTPSURL(), "RM_TOKEN=" + tok.Token}, "an https server needs RM_CA_FINGERPRINT"},
		// RM_INSECURE=1 drops the pin, not the TLS check: the system does
		// not trust the server's own CA.
		{[]string{"RM_SERVER=" + m.HTTPSURL(), "RM_TOKEN=" + tok.Token, "RM_INSECURE=1"}, "certificate"},
		{[]string{"RM_SERVER=http://127.0.0.1:1", "RM_TOKEN=" + tok.Token}, "cannot reach the server at http://127.0.0.1:1"},
	} {
		out, err := runInstall(t, append(c.env, "RM_ROOT="+refusals, "RM_NO_SERVICE=1"), scriptPath)
		if err == nil || !strings.Contains(out, c.want) {
			t.Fatalf("%v: want a refusal saying %q, got (err %v):\n%s", c.env, c.want, err, out)
		}
		if _, err := os.Stat(filepath.Join(refusals, "usr/local/bin/restic-manager-agent")); err == nil {
			t.Fatalf("%v: refused, yet the agent was installed", c.env)
		}
	}

	// Not root: refused before anything else (the script read from stdin,
	// as with curl | sh, by the user nobody).
	setpriv := agenttest.RequireBinary(t, "setpriv")
	asNobody := exec.CommandContext(t.Context(), setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-s", "--",
		"--server", m.HTTPSURL(), "--ca-fingerprint", fp)
	asNobody.Stdin = bytes.NewReader(script)
	asNobody.Env = []string{"PATH=" + os.Getenv("PATH")}
	if out, err := asNobody.CombinedOutput(); err == nil || !strings.Contains(string(out), "run me as root") {
		t.Fatalf("not root: want a refusal, got (err %v):\n%s", err, out)
	}

	// Paste the one-liner (as root already, so without sudo, which would
	// also drop RM_ROOT from the environment).
	root := filepath.Join(dir, "root")
	env := []string{"RM_ROOT=" + root, "RM_NO_SERVICE=1"}
	oneLiner := strings.Replace(tok.InstallCommand, "then sudo sh ", "then sh ", 1)

	// A script altered on the way (here: served by another machine) is not run.
	marker := filepath.Join(dir, "altered-script-ran")
	impostor := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "#!/bin/sh\ntouch "+marker+"\n")
	}))
	t.Cleanup(impostor.Close)
	out, err := runInstall(t, env, "-c", strings.Replace(oneLiner, m.HTTPSURL()+"/install.sh", impostor.URL+"/install.sh", 1))
	if _, statErr := os.Stat(marker); statErr == nil || !strings.Contains(out, "nothing was run") {
		t.Fatalf("the one-liner ran a script that is not the server's (err %v):\n%s", err, out)
	}

	out, err = runInstall(t, env, "-c", oneLiner)
	if err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	t.Logf("install.sh (one-liner):\n%s", out)
	// install.sh puts the config and state where the agent looks by default.
	bin := filepath.Join(root, "usr/local/bin/restic-manager-agent")
	conf := filepath.Join(root, agent.DefaultConfigPath())
	state := filepath.Join(root, agent.DefaultStateDir())
	if got := fileSum(t, bin); got != first {
		t.Fatalf("installed binary %s, served %s\n%s", got, first, out)
	}
	if fi, err := os.Stat(conf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config: %v (mode %v)\n%s", err, fi, out)
	}
	if !strings.Contains(out, "the server's CA matches "+fp) || !strings.Contains(out, "v1.0.0-test") {
		t.Fatalf("install.sh did not say it pinned the CA and which version it installed:\n%s", out)
	}

	// The installed agent, started with the installed config, comes online.
	installed := startProc(t, nil, bin, "run", "--config", conf)
	var host hostJSON
	waitFor(t, "the installed agent online", 20*time.Second, func() bool {
		var list struct {
			Hosts []hostJSON `json:"hosts"`
		}
		api.do("GET", "/api/v1/hosts", nil, &list)
		for _, h := range list.Hosts {
			if h.Name == "shop-1" && h.Online {
				host = h
				return true
			}
		}
		return installed.exited()
	})
	if !host.Online {
		t.Fatalf("the installed agent exited:\n%s", installed.logs)
	}
	installed.stop(syscall.SIGTERM)

	// A re-run upgrades the binary in place; config and state stay.
	kept := filepath.Join(state, "kept-by-upgrade")
	if err := os.WriteFile(kept, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	confBefore, _ := os.ReadFile(conf)
	second := publishAgent(t, dist, served, "v1.1.0-test", []byte("\x00a newer build"))
	rerun := append([]string{"RM_SERVER=" + m.HTTPSURL(), "RM_CA_FINGERPRINT=" + fp}, env...)
	out, err = runInstall(t, rerun, scriptPath)
	if err != nil {
		t.Fatalf("re-run: %v\n%s", err, out)
	}
	t.Logf("install.sh (re-run):\n%s", out)
	confAfter, _ := os.ReadFile(conf)
	if got := fileSum(t, bin); got != second || !bytes.Equal(confBefore, confAfter) || !strings.Contains(out, "v1.1.0-test") {
		t.Fatalf("re-run: binary %s (want %s), config kept %v:\n%s", got, second, bytes.Equal(confBefore, confAfter), out)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Fatalf("the upgrade lost the agent's state: %v", err)
	}

	// A binary altered between server and machine is refused; nothing changes.
	proxy := tamperingProxy(t, m.HTTPURL())
	out, err = runInstall(t, append([]string{"RM_SERVER=" + proxy}, env...), scriptPath)
	if err == nil || !strings.Contains(out, "checksum mismatch") {
		t.Fatalf("a tampered binary was not refused (err %v):\n%s", err, out)
	}
	t.Logf("install.sh (tampered):\n%s", out)
	if got := fileSum(t, bin); got != second {
		t.Fatalf("the refused download replaced the binary")
	}

	// --uninstall removes the binary and keeps config and state; --purge
	// removes those too.
	if out, err := runInstall(t, env, scriptPath, "--uninstall"); err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	if _, err := os.Stat(bin); err == nil {
		t.Fatal("uninstall left the binary")
	}
	if _, err := os.Stat(kept); err != nil {
		t.Fatalf("uninstall without --purge removed the state: %v", err)
	}
	if _, err := os.Stat(conf); err != nil {
		t.Fatalf("uninstall without --purge removed the config: %v", err)
	}
	if out, err := runInstall(t, env, scriptPath, "--uninstall", "--purge"); err != nil {
		t.Fatalf("uninstall --purge: %v\n%s", err, out)
	}
	for _, p := range []string{conf, state} {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("uninstall --purge left %s", p)
		}
	}

	// Over plain http (make run's address) the one-liner pipes the script
	// into sh: the agent it installs still enrolls, and the script warns.
	var httpTok struct {
		InstallCommand string `json:"install_command"`
	}
	if code := api.do("POST", "/api/v1/enrollment-tokens", map[string]any{"host_name": "shop-3", "ttl": "30m"}, &httpTok); code != http.StatusCreated {
		t.Fatalf("create token over http: HTTP %d", code)
	}
	if !strings.HasPrefix(httpTok.InstallCommand, "curl -fsSL "+m.HTTPURL()+"/install.sh | sudo sh -s -- ") {
		t.Fatalf("http install command: %q", httpTok.InstallCommand)
	}
	root3 := filepath.Join(dir, "root3")
	out, err = runInstall(t, []string{"RM_ROOT=" + root3, "RM_NO_SERVICE=1"}, "-c", strings.Replace(httpTok.InstallCommand, "| sudo sh ", "| sh ", 1))
	if err != nil || !strings.Contains(out, "warning: plain http") || !strings.Contains(out, "enrolled as shop-3") {
		t.Fatalf("install over http (err %v):\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root3, agent.DefaultConfigPath())); err != nil {
		t.Fatalf("install over http wrote no config: %v", err)
	}

	// Without a token the machine announces: the script prints the
	// fingerprint and completes once an admin accepts it.
	root2 := filepath.Join(dir, "root2")
	announcer := startProc(t, []string{"RM_ROOT=" + root2, "RM_NO_SERVICE=1", "RM_SERVER=" + m.HTTPSURL(), "RM_CA_FINGERPRINT=" + fp},
		"/bin/sh", scriptPath)
	var printed string
	waitFor(t, "the fingerprint banner", 20*time.Second, func() bool {
		if mm := bannerFingerprintRE.FindStringSubmatch(announcer.logs.String()); mm != nil {
			printed = mm[1]
			return true
		}
		return announcer.exited()
	})
	if printed == "" {
		t.Fatalf("install.sh ended without a fingerprint banner:\n%s", announcer.logs)
	}
	var row *pendingJSON
	waitFor(t, "the announced machine pending", 10*time.Second, func() bool {
		var list struct {
			Pending []pendingJSON `json:"pending_hosts"`
		}
		api.do("GET", "/api/v1/pending-hosts", nil, &list)
		for _, p := range list.Pending {
			if p.Fingerprint == printed {
				row = &p
			}
		}
		return row != nil
	})
	if code := api.do("POST", "/api/v1/pending-hosts/"+itoa(row.ID)+"/accept", map[string]any{"name": "shop-2"}, nil); code != http.StatusOK {
		t.Fatalf("accept: HTTP %d", code)
	}
	select {
	case <-announcer.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("install.sh did not complete after the machine was accepted:\n%s", announcer.logs)
	}
	t.Logf("install.sh (announce):\n%s", announcer.logs)
	conf2 := filepath.Join(root2, agent.DefaultConfigPath())
	if code := announcer.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("announce install exited %d:\n%s", code, announcer.logs)
	}
	if fi, err := os.Stat(conf2); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config after acceptance: %v\n%s", err, announcer.logs)
	}
}

// requireRoot ends a test that must run as root (install.sh refuses
// otherwise) with agenttest.Unavailable: a skip, or a failure in CI.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		agenttest.Unavailable(t, "install.sh needs root; run this test as root")
	}
}

// startInstallServer runs the whole server on loopback (HTTP, HTTPS, MQTTS)
// serving the agent binaries in agentsDir.
func startInstallServer(t testing.TB, dataDir, agentsDir string) *Main {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m := &Main{DataDir: dataDir, HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0", MQTTSAddr: "127.0.0.1:0",
		AgentsDir: agentsDir, Logger: logger, Stdout: io.Discard, AdminPassword: "admin password for tests"}
	if err := m.Run(t.Context()); err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// publishAgent puts a build of the real agent at path (the package's agent
// binary with extra appended, which still runs: ELF ignores trailing bytes)
// and its version next to it, as `make agents` does. It returns its SHA-256.
func publishAgent(t testing.TB, dist, path, version string, extra []byte) string {
	t.Helper()
	body, err := os.ReadFile(agentBin)
	if err != nil {
		t.Fatal(err)
	}
	body = append(body, extra...)
	if err := os.MkdirAll(dist, 0o755); err != nil {
		t.Fatal(err)
	}
	// Written aside and renamed, as a build would, so the server never
	// serves a half-written file.
	if err := os.WriteFile(path+".tmp", body, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dist, "VERSION"), []byte(version+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// fileSum is the hex SHA-256 of a file.
func fileSum(t testing.TB, path string) string {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// runInstall runs /bin/sh with args and env (plus PATH), returning its output.
func runInstall(t testing.TB, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "/bin/sh", args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// startProc starts a program with only PATH, HOME and env in its
// environment; nil env inherits the test's.
func startProc(t testing.TB, env []string, name string, args ...string) *agentProc {
	t.Helper()
	p := &agentProc{logs: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	if env != nil {
		p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(syscall.SIGKILL) })
	return p
}

// createTokenOverTLS asks the token API over the server's HTTPS listener,
// trusting its CA, so the one-liners carry the https URL.
func createTokenOverTLS(t testing.TB, m *Main, apiToken, hostName string, out any) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(m.TLS().CACertPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body, _ := json.Marshal(map[string]any{"host_name": hostName, "ttl": "30m"})
	req, _ := http.NewRequest("POST", m.HTTPSURL()+"/api/v1/enrollment-tokens", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create token over https: HTTP %d %s", resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatal(err)
	}
}

// tamperingProxy is a machine in the middle on plain HTTP: it passes
// everything to target but flips one byte of every agent binary.
func tamperingProxy(t testing.TB, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(res *http.Response) error {
		if res.Request.URL.Path != "/agent/binary" || res.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		body[len(body)/2] ^= 0xff
		res.Body = io.NopCloser(bytes.NewReader(body))
		res.ContentLength = int64(len(body))
		res.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestServeSaysWhichAgentsItServes: at start the server logs the platforms
// and version of the agents in --agents-dir, and warns when there are none.
func TestServeSaysWhichAgentsItServes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dist := filepath.Join(dir, "dist")
	publishAgent(t, dist, filepath.Join(dist, "restic-manager-agent-linux-arm64"), "v2.0.0", nil)
	publishAgent(t, dist, filepath.Join(dist, "restic-manager-agent-windows-amd64.exe"), "v2.0.0", nil)
	for _, c := range []struct {
		agentsDir string
		want      string
	}{
		{dist, `msg="serving agent binaries" agents_dir=` + dist + ` version=v2.0.0 platforms="linux/arm64 windows/amd64"`},
		{filepath.Join(dir, "empty"), `level=WARN msg="no agent binaries to serve`},
	} {
		logs := &lockedBuffer{}
		m := &Main{DataDir: filepath.Join(dir, "data"), HTTPAddr: "127.0.0.1:0", AgentsDir: c.agentsDir,
			Logger: slog.New(slog.NewTextHandler(logs, nil)), Stdout: io.Discard, AdminPassword: "admin password for tests"}
		if err := m.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		m.Close()
		if !strings.Contains(logs.String(), c.want) {
			t.Errorf("start log lacks %s:\n%s", c.want, logs)
		}
	}
}
