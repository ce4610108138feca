package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// What a newcomer tripped over on a fresh clone (#12), each through the real
// restic-manager binary: the exit status, stdout and stderr a shell sees.

// rmResult is one finished run of the server binary.
type rmResult struct {
	stdout, stderr string
	code           int
}

// runRM runs the real restic-manager binary in dir with stdin and a clean
// environment (no RM_ADMIN_PASSWORD, no RM_MASTER_KEY) and waits for it.
func runRM(t *testing.T, dir, stdin string, args ...string) rmResult {
	t.Helper()
	return runRMWith(t, dir, nil, stdin, args...)
}

// runRMWith is runRM with env (NAME=value) added to the clean environment.
func runRMWith(t *testing.T, dir string, env []string, stdin string, args ...string) rmResult {
	t.Helper()
	bin := buildServer(t) // before the run's deadline: the first call builds it
	r, err := execRM(t, bin, dir, env, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// rmRun is one run of the server binary for runRMAll.
type rmRun struct {
	stdin string
	args  []string
}

// runRMAll runs the server binary once for each of runs, as runRM does,
// four at a time (each run is mostly the race-built binary's start), and
// returns the results in the order of runs.
func runRMAll(t *testing.T, dir string, runs []rmRun) []rmResult {
	t.Helper()
	bin := buildServer(t)
	results, errs := make([]rmResult, len(runs)), make([]error, len(runs))
	slots := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, r := range runs {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			results[i], errs[i] = execRM(t, bin, dir, nil, r.stdin, r.args...)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return results
}

// execRM is one run of the server binary at bin; the error is for a run
// that did not end with an exit status of its own (it could not start, or
// outlived its deadline). Safe to call from any goroutine of t.
func execRM(t *testing.T, bin, dir string, env []string, stdin string, args ...string) (rmResult, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || ctx.Err() != nil) {
		return rmResult{}, fmt.Errorf("restic-manager %s: %w", strings.Join(args, " "), err)
	}
	return rmResult{out.String(), errOut.String(), cmd.ProcessState.ExitCode()}, nil
}

// oneSentence fails unless r is a refusal with exit status code that says
// want in one line on stderr, without dumping a flag list or the usage.
func (r rmResult) oneSentence(t *testing.T, what string, code int, want string) {
	t.Helper()
	line := strings.TrimSuffix(r.stderr, "\n")
	if r.code != code || strings.Contains(line, "\n") || !strings.HasPrefix(line, "restic-manager: ") || !strings.Contains(line, want) {
		t.Errorf("%s: exit %d, stderr:\n%s\nwant exit %d and one line saying %q", what, r.code, r.stderr, code, want)
	}
}

// TestServePortTakenKeepsFirstPassword: with one of its ports taken, the
// first start of serve names the flag that moves it and creates nothing
// (before, it printed the one-time admin password, crashed, and the next
// start never showed a password again). The start that works prints the
// password with the command that resets it, and that command works.
func TestServePortTakenKeepsFirstPassword(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	data := filepath.Join(work, "data")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, flag := range []string{"http", "https", "mqtt", "mqtts"} {
		args := map[string]string{"http": "127.0.0.1:0", "https": "", "mqtt": "127.0.0.1:0", "mqtts": "127.0.0.1:0"}
		args[flag] = taken.Addr().String()
		r := runRM(t, work, "", "serve", "--data", data, "--http", args["http"], "--https", args["https"],
			"--mqtt", args["mqtt"], "--mqtts", args["mqtts"], "--agents-dir", "")
		r.oneSentence(t, "serve with --"+flag+" taken", 1, taken.Addr().String()+" (--"+flag+") is already in use")
		if !strings.Contains(r.stderr, "pass --"+flag+" with a free address") || !strings.Contains(r.stderr, "make run ARGS='--"+flag) {
			t.Errorf("serve with --%s taken does not say how to move it:\n%s", flag, r.stderr)
		}
		if strings.Contains(r.stdout, "password") {
			t.Errorf("serve with --%s taken printed the one-time password it then lost:\n%s", flag, r.stdout)
		}
		if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("serve with --%s taken created its data directory (%v)", flag, err)
		}
	}

	srv := startProc(t, []string{}, buildServer(t), "serve", "--data", data, "--http", "127.0.0.1:0", "--https", "",
		"--mqtt", "127.0.0.1:0", "--mqtts", "127.0.0.1:0", "--agents-dir", "")
	var base string
	waitFor(t, "the server to serve", 30*time.Second, func() bool {
		m := servingRE.FindStringSubmatch(srv.logs.String())
		if m != nil {
			base = m[1]
		}
		return m != nil || srv.exited()
	})
	logs := srv.logs.String()
	pw := regexp.MustCompile(`created user "admin" with password:\s+(\S+)`).FindStringSubmatch(logs)
	reset := regexp.MustCompile(`(?m)^\s+(\S+ user passwd admin --data \S+ < new-password.txt)$`).FindStringSubmatch(logs)
	if base == "" || pw == nil || reset == nil {
		t.Fatalf("the first start that works must print the admin password and how to reset it:\n%s", logs)
	}
	signInHTTP(t, base, "admin", pw[1])

	// The printed command, as a shell runs it in the same directory.
	if err := os.WriteFile(filepath.Join(work, "new-password.txt"), []byte("a brand new admin password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sh := exec.Command("sh", "-c", reset[1])
	sh.Dir = work
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the printed reset command %q: %v\n%s", reset[1], err, out)
	}
	signInHTTP(t, base, "admin", "a brand new admin password")
}

// TestCLIHelp: --help answers on stdout with exit status 0 for every command,
// serve's lists every flag the README passes to serve, and the top-level
// usage names each command and how to get its flags.
func TestCLIHelp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	serveHelp := runRM(t, dir, "", "serve", "--help")
	if serveHelp.code != 0 || serveHelp.stderr != "" || !strings.Contains(serveHelp.stdout, "-public-url") {
		t.Fatalf("serve --help: exit %d\nstdout:\n%s\nstderr:\n%s", serveHelp.code, serveHelp.stdout, serveHelp.stderr)
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	flags := readmeServeFlags(string(readme))
	for _, want := range []string{"public-url", "tls-names", "https", "mqtts", "http"} {
		if !slices.Contains(flags, want) {
			t.Fatalf("the README's serve flags %v lack --%s: the parser missed a command", flags, want)
		}
	}
	for _, f := range flags {
		if !strings.Contains(serveHelp.stdout, "\n  -"+f+" ") {
			t.Errorf("the README passes --%s to serve, but serve --help does not list it", f)
		}
	}

	usage := runRM(t, dir, "", "help")
	if usage.code != 0 {
		t.Fatalf("help: exit %d", usage.code)
	}
	for _, f := range []string{"--public-url", "--tls-names", "--log-level", "'restic-manager serve --help'", "'restic-manager user --help'"} {
		if !strings.Contains(usage.stdout, f) {
			t.Errorf("the usage does not mention %s:\n%s", f, usage.stdout)
		}
	}
	if r := runRM(t, dir, ""); r.code != 2 || !strings.Contains(r.stderr, "restic-manager serve") {
		t.Errorf("no command: exit %d, want 2 and the usage\n%s", r.code, r.stderr)
	}

	// Every command the README runs is in the usage and answers --help,
	// and so does each of its verbs.
	for _, cmd := range readmeCommands(string(readme)) {
		if !strings.Contains(usage.stdout, "restic-manager "+cmd+" ") {
			t.Errorf("the README runs 'restic-manager %s', which the usage does not list", cmd)
		}
	}
	verbs := [][]string{
		{"user", "--help"}, {"user", "add", "--help"}, {"user", "passwd", "--help"}, {"user", "role", "-h"},
		{"user", "list", "--help"}, {"apitoken", "--help"}, {"apitoken", "create", "--help"},
		{"apitoken", "list", "--help"}, {"apitoken", "revoke", "--help"}, {"token", "--help"},
		{"token", "create", "--help"}, {"monitor", "--help"}, {"monitor", "add", "--help"},
	}
	runs := make([]rmRun, len(verbs))
	for i, args := range verbs {
		runs[i] = rmRun{args: args}
	}
	for i, r := range runRMAll(t, dir, runs) {
		args := verbs[i]
		if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "restic-manager "+args[0]) {
			t.Errorf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		if args[len(args)-1] == "--help" && len(args) >= 3 && !strings.Contains(r.stdout, "-data") {
			t.Errorf("%s does not list --data:\n%s", strings.Join(args, " "), r.stdout)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("asking for help created %v", entries)
	}
}

// readmeServeFlags returns the flags but --help the README passes to serve:
// on lines (joined at trailing backslashes) that run "restic-manager serve",
// and in make run's ARGS='...'.
func readmeServeFlags(readme string) []string {
	readme = strings.ReplaceAll(readme, "\\\n", " ")
	flagRE := regexp.MustCompile(`(?:^|\s)--([a-z][a-z0-9-]*)`)
	var out []string
	add := func(s string) {
		for _, m := range flagRE.FindAllStringSubmatch(s, -1) {
			if m[1] != "help" && !slices.Contains(out, m[1]) {
				out = append(out, m[1])
			}
		}
	}
	for _, line := range strings.Split(readme, "\n") {
		if _, after, ok := strings.Cut(line, "restic-manager serve "); ok {
			add(after)
		}
	}
	for _, m := range regexp.MustCompile(`make run ARGS='([^']*)'`).FindAllStringSubmatch(readme, -1) {
		add(m[1])
	}
	return out
}

// readmeCommands returns the commands the README runs on the server binary.
func readmeCommands(readme string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?m)(?:^|[\s/])restic-manager ([a-z]+) `).FindAllStringSubmatch(readme, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// TestCLIRefusalsAreOneSentence: a bad flag value, an unknown flag and a
// data directory without restic-manager data each get one sentence saying
// what to do, exit status 2 for the command line and 1 for a failure; none
// creates anything in a wrong --data directory.
func TestCLIRefusalsAreOneSentence(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	data := filepath.Join(work, "data")
	startServer(t, data, "127.0.0.1:0")

	// The refusals run side by side (runRMAll).
	type refusal struct {
		stdin string
		args  []string
		code  int
		want  string
	}
	refusals := []refusal{
		{"", []string{"token", "create", "--host", "x", "--ttl", "forever", "--data", data}, 2, `--ttl "forever" is not valid: want a duration such as 90s, 30m or 2h`},
		{"", []string{"token", "create", "--host", "x", "--ttl", "720h", "--data", data}, 2, "Token lifetimes run from 1 minute to 7 days"},
		{"", []string{"token", "create", "--data", data}, 2, "--host is required"},
		{"", []string{"user", "list", "--bogus", "--data", data}, 2, "unknown flag --bogus; 'restic-manager user list --help' lists its flags"},
		{"", []string{"apitoken", "create", "--user", "admin", "--label"}, 2, "--label needs a value"},
		{"", []string{"apitoken", "revoke", "seven", "--data", data}, 2, `"seven" is not a token ID`},
		{"", []string{"user", "role", "admin", "root", "--data", data}, 2, "root"},
		{"", []string{"user", "frobnicate", "--data", data}, 2, `unknown user command "frobnicate"`},
		{"", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"", []string{"serve", "--log-level", "loud", "--data", data}, 2, `--log-level "loud" is not valid: want debug, info, warn or error`},
		{"", []string{"serve", "--http-max-conns", "lots", "--data", data}, 2, `--http-max-conns "lots" is not valid: want a whole number`},
		{"", []string{"apitoken", "create", "--user", "nobody", "--data", data}, 1, `There is no user named "nobody".`},
	}

	// Each admin command against a directory that is not the server's: a
	// missing one, an empty one, one with a database but no master key.
	empty := filepath.Join(work, "empty")
	noKey := filepath.Join(work, "nokey")
	for _, d := range []string{empty, noKey} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	db, err := os.ReadFile(filepath.Join(data, "restic-manager.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(noKey, "restic-manager.db"), db, 0o600); err != nil {
		t.Fatal(err)
	}
	commands := [][]string{
		{"apitoken", "create", "--user", "admin"}, {"apitoken", "list"}, {"apitoken", "revoke", "1"},
		{"token", "create", "--host", "web-1"}, {"monitor", "add", "grafana"},
		{"user", "add", "alice", "--role", "viewer"}, {"user", "passwd", "admin"}, {"user", "list"},
		{"user", "disable", "admin"}, {"user", "role", "admin", "viewer"}, {"user", "totp-reset", "admin"},
	}
	for _, c := range commands {
		for _, d := range []struct{ dir, want string }{
			{"/nonexistent/restic-manager", "no restic-manager data in /nonexistent/restic-manager; pass --data pointing at the server's data directory"},
			{empty, "no restic-manager data in " + empty + "; pass --data pointing at the server's data directory"},
			{noKey, noKey + " has a database but no master.key; set RM_MASTER_KEY"},
		} {
			refusals = append(refusals, refusal{"a long enough password\n", append(slices.Clone(c), "--data", d.dir), 1, d.want})
		}
	}
	runs := make([]rmRun, len(refusals))
	for i, r := range refusals {
		runs[i] = rmRun{r.stdin, r.args}
	}
	for i, res := range runRMAll(t, work, runs) {
		r := refusals[i]
		res.oneSentence(t, strings.Join(r.args, " "), r.code, r.want)
	}
	for _, d := range []string{empty, noKey} {
		entries, _ := os.ReadDir(d)
		if len(entries) > 1 || (d == empty && len(entries) != 0) {
			t.Errorf("the admin commands created files in %s, which is not the server's data directory: %v", d, entries)
		}
	}
	if _, err := os.Stat("/nonexistent"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the admin commands created /nonexistent (%v)", err)
	}
}

// TestMonitorAddPrintsWorkingExample: monitor add prints, beside the
// password, a mosquitto_sub line with the client ID (which must equal the
// username: the broker refuses any other, the newcomer's "not authorised"),
// the username, the port and the CA; connected as it says, a client
// subscribes to the monitor feed and reads the hosts' state.
func TestMonitorAddPrintsWorkingExample(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	data := filepath.Join(work, "data")
	m := startServer(t, data, "127.0.0.1:0")
	r := runRM(t, work, "", "monitor", "add", "grafana", "--data", data)
	password := strings.TrimSpace(r.stdout)
	if r.code != 0 || password == "" || strings.Contains(password, "\n") {
		t.Fatalf("monitor add: exit %d, stdout %q (want the password alone), stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, password) {
		t.Errorf("monitor add wrote the password to stderr too, though stdout is not a terminal:\n%s", r.stderr)
	}
	line := regexp.MustCompile(`(?m)^\s*mosquitto_sub .*$`).FindString(r.stderr)
	curl := regexp.MustCompile(`(?m)^\s*curl -fsS (http://\S+/ca\.pem) -o (\S+)$`).FindStringSubmatch(r.stderr)
	if line == "" || curl == nil {
		t.Fatalf("monitor add prints no mosquitto_sub example with the CA's download:\n%s", r.stderr)
	}
	args := map[string]string{}
	fields := strings.Fields(line)
	for i := 1; i+1 < len(fields); i++ {
		if strings.HasPrefix(fields[i], "-") {
			args[fields[i]] = strings.Trim(fields[i+1], "'")
		}
	}
	user := server.MonitorUsername("grafana")
	if args["-i"] != user || args["-u"] != user || args["-P"] != "PASSWORD" || args["-t"] != topics.MonitorFilter || args["--cafile"] != curl[2] {
		t.Fatalf("the example %q does not connect as %s with client ID %s to %s with the downloaded CA", line, user, user, topics.MonitorFilter)
	}
	if !strings.Contains(r.stderr, "client ID must be the username") {
		t.Errorf("monitor add does not say that the client ID must be the username:\n%s", r.stderr)
	}

	// The example names serve's default addresses; this server listens on
	// other ports, so the test uses its own (the ports are checked against
	// serve's defaults).
	help := runRM(t, work, "", "serve", "--help").stdout
	mqtts := net.JoinHostPort(args["-h"], args["-p"])
	web := strings.TrimSuffix(strings.TrimPrefix(curl[1], "http://"), "/ca.pem")
	if !strings.Contains(help, `(default "`+mqtts+`")`) || !strings.Contains(help, `(default "`+web+`")`) {
		t.Fatalf("the example's %s and %s are not serve's default --mqtts and --http:\n%s", mqtts, web, help)
	}
	res, err := http.Get(m.HTTPURL() + "/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := io.ReadAll(res.Body)
	res.Body.Close()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("/ca.pem is not a certificate: %q", caPEM)
	}
	_, port, _ := net.SplitHostPort(m.Broker().TLSAddr().String())
	connect := func(clientID string) (mqtt.Client, error) {
		opts := mqtt.NewClientOptions().AddBroker("ssl://" + net.JoinHostPort(args["-h"], port)).
			SetClientID(clientID).SetUsername(args["-u"]).SetPassword(password).SetProtocolVersion(4).
			SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: args["-h"]}).SetAutoReconnect(false).SetConnectRetry(false)
		c := mqtt.NewClient(opts)
		tk := c.Connect()
		if !tk.WaitTimeout(10 * time.Second) {
			t.Fatal("MQTT connect timed out")
		}
		return c, tk.Error()
	}
	if c, err := connect("mosquitto-sub-1234"); err == nil {
		c.Disconnect(0)
		t.Fatal("a monitor client with its own client ID was let in; then the example's -i would not matter")
	}
	c, err := connect(args["-i"])
	if err != nil {
		t.Fatalf("connecting as the example says: %v", err)
	}
	defer c.Disconnect(100)
	sub := c.Subscribe(args["-t"], 0, func(mqtt.Client, mqtt.Message) {})
	if !sub.WaitTimeout(10*time.Second) || sub.Error() != nil {
		t.Fatalf("subscribing as the example says: %v", sub.Error())
	}
	if st, ok := sub.(*mqtt.SubscribeToken); !ok || st.Result()[args["-t"]] >= 0x80 {
		t.Fatalf("the broker refused the example's subscription: %+v", sub)
	}
}

// TestREADMETourLeavesTreeClean runs the README's local agent tour (the
// enroll command, in a directory standing for the checkout) and checks that
// git ignores every file it wrote: the tour must not leave agent.yaml and
// agent-state/ untracked in the repository.
func TestREADMETourLeavesTreeClean(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(readme), "\\\n", " ")
	enroll := regexp.MustCompile(`\./bin/restic-manager-agent enroll [^\n]*`).FindString(text)
	run := regexp.MustCompile(`\./bin/restic-manager-agent run [^\n]*`).FindString(text)
	if enroll == "" || run == "" {
		t.Fatal("the README has no local agent tour (./bin/restic-manager-agent enroll and run)")
	}
	m := startServer(t, filepath.Join(t.TempDir(), "data"), "127.0.0.1:0")
	token, _, err := m.Service().CreateEnrollmentToken(t.Context(), server.CLIActor(), "tour-pc", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Fields(enroll)[1:]
	for i, a := range args {
		switch a {
		case "http://127.0.0.1:8080":
			args[i] = m.HTTPURL()
		case "rme_…":
			args[i] = token
		case "SHA256:…":
			args[i] = m.TLS().Fingerprint
		}
	}
	checkout := t.TempDir()
	cmd := exec.Command(agentBin, args...)
	cmd.Dir = checkout
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the README's enroll %q: %v\n%s", args, err, out)
	}
	if cfg, _ := flagValue(args, "config"); !slices.Equal(strings.Fields(run)[2:], []string{"--config", cfg}) {
		t.Errorf("the README runs the agent with %q, not the config enroll wrote (%s)", run, cfg)
	}
	var written []string
	filepath.WalkDir(checkout, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(checkout, path)
			written = append(written, rel)
		}
		return err
	})
	if len(written) == 0 {
		t.Fatal("the README's enroll wrote nothing in the working directory")
	}
	check := exec.Command("git", append([]string{"check-ignore", "--no-index", "--verbose", "--non-matching"}, written...)...)
	check.Dir = repoRoot
	out, err := check.Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("git check-ignore: %v", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "::") {
			t.Errorf("the README's tour leaves %s untracked in the repository", strings.TrimSpace(strings.TrimPrefix(l, "::")))
		}
	}
}

// TestMakeRunPassesArgs: make run hands ARGS to serve after its own flags,
// so a taken port can be moved (make run ARGS='--http ...'), and without
// ARGS it still runs serve as before. make -n prints the recipe (building
// the binaries and the agents first) without running it.
func TestMakeRunPassesArgs(t *testing.T) {
	t.Parallel()
	serveLine := func(makeArgs ...string) []string {
		t.Helper()
		cmd := exec.Command("make", append([]string{"-n", "--no-print-directory", "run"}, makeArgs...)...)
		cmd.Dir = repoRoot
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("make -n run %q: %v\n%s", makeArgs, err, out)
		}
		for _, want := range []string{"go build", "restic-manager-agent-$os-$arch"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("make run no longer builds what it runs (%q missing):\n%s", want, out)
			}
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		serve, ok := strings.CutPrefix(lines[len(lines)-1], "./bin/restic-manager serve ")
		if !ok {
			t.Fatalf("make run does not end by running serve:\n%s", out)
		}
		return strings.Fields(serve)
	}
	if got := serveLine(); !slices.Equal(got, []string{"--data", "data"}) {
		t.Errorf("make run runs serve %q, want --data data", got)
	}
	got := serveLine("ARGS=--http 127.0.0.1:8081 --mqtt 127.0.0.1:1884")
	if v, _ := flagValue(got, "http"); v != "127.0.0.1:8081" {
		t.Fatalf("make run ARGS='--http 127.0.0.1:8081' runs serve %q", got)
	}
	checkServeFlags(t, "make run ARGS", got)
}
