package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/restic-manager/restic-manager/agent/agenttest"
)

// The server's install files (install/restic-manager.service, Dockerfile,
// install/docker-compose.yml) are checked against the real serve command:
// every flag they pass must be one serve accepts, and the paths and ports
// they name must agree with each other. Docker cannot run here (no engine),
// so the image itself is not built; systemd-analyze checks the unit offline.

const repoRoot = "../.."

// checkServeFlags fails unless serve accepts args: they are parsed by
// serve's own flag set, followed by -h so that it stops there (twice, so
// that a flag left without its value cannot start a server).
func checkServeFlags(t *testing.T, where string, args []string) {
	t.Helper()
	var stderr bytes.Buffer
	err := cmdServe(context.Background(), append(slices.Clone(args), "-h", "-h"), io.Discard, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("%s: serve %q is refused: %v\n%s", where, args, err, stderr.String())
	}
}

// flagValue returns the value of --name (or -name) in args; a later flag
// wins, as in the flag package.
func flagValue(args []string, name string) (string, bool) {
	value, found := "", false
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--"+name || args[i] == "-"+name {
			value, found = args[i+1], true
		}
	}
	return value, found
}

// listenPorts returns the ports of serve's listeners that args turn on.
func listenPorts(t *testing.T, args []string) []string {
	t.Helper()
	var ports []string
	for _, l := range []string{"http", "https", "mqtt", "mqtts"} {
		addr, ok := flagValue(args, l)
		if !ok || addr == "" {
			continue
		}
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("--%s %q: %v", l, addr, err)
		}
		ports = append(ports, port)
	}
	return ports
}

// unitFile reads a systemd unit into section -> key -> values.
func unitFile(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: not a key=value line in a section: %q", path, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// execArgs splits an ExecStart= command line as systemd does for the forms
// the unit uses: words, "double" and 'single' quoted words, and $VAR
// standing alone, which becomes zero or more words (none here).
func execArgs(t *testing.T, line string) []string {
	t.Helper()
	var args []string
	for rest := strings.TrimSpace(line); rest != ""; rest = strings.TrimLeft(rest, " \t") {
		switch rest[0] {
		case '"', '\'':
			end := strings.IndexByte(rest[1:], rest[0])
			if end < 0 {
				t.Fatalf("unbalanced quote in %q", line)
			}
			args = append(args, rest[1:end+1])
			rest = rest[end+2:]
		default:
			word, after, _ := strings.Cut(rest, " ")
			if !strings.HasPrefix(word, "$") {
				args = append(args, word)
			}
			rest = after
		}
	}
	return args
}

func TestSystemdUnitRunsServeWithItsStateDirectory(t *testing.T) {
	t.Parallel()
	unit := unitFile(t, filepath.Join(repoRoot, "install", "restic-manager.service"))
	svc := unit["Service"]
	if len(svc["ExecStart"]) != 1 {
		t.Fatalf("ExecStart: %q", svc["ExecStart"])
	}
	args := execArgs(t, svc["ExecStart"][0])
	if len(args) < 2 || args[0] != "/usr/local/bin/restic-manager" || args[1] != "serve" {
		t.Fatalf("ExecStart runs %q, want /usr/local/bin/restic-manager serve ...", args)
	}
	checkServeFlags(t, "restic-manager.service", args[2:])
	if data, _ := flagValue(args, "data"); data != "/var/lib/"+strings.Join(svc["StateDirectory"], "") {
		t.Errorf("--data %q is not the StateDirectory %q under /var/lib", data, svc["StateDirectory"])
	}
	// What the unit promises an admin (docs/operations.md); systemd-analyze
	// below checks that systemd understands it.
	for key, want := range map[string]string{
		"User": "restic-manager", "ProtectSystem": "strict", "ProtectHome": "true", "NoNewPrivileges": "true",
		"PrivateTmp": "true", "PrivateDevices": "true", "CapabilityBoundingSet": "", "Restart": "on-failure",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "LimitNOFILE": "65536",
		"EnvironmentFile": "-/etc/restic-manager/server.env",
	} {
		if got := svc[key]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	if !slices.Contains(svc["SystemCallFilter"], "@system-service") {
		t.Errorf("SystemCallFilter=%q lacks @system-service", svc["SystemCallFilter"])
	}
}

// systemd-analyze checks the unit offline: verify (every directive known
// and valid, the command executable) and security (the exposure score stays
// at most 2.0 of 10, "OK"). The installed binary path does not exist here,
// so a copy of the unit runs this test binary instead.
func TestSystemdAnalyzeAcceptsTheUnit(t *testing.T) {
	t.Parallel()
	analyze := agenttest.RequireBinary(t, "systemd-analyze")
	body, err := os.ReadFile(filepath.Join(repoRoot, "install", "restic-manager.service"))
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const bin = "ExecStart=/usr/local/bin/restic-manager "
	if !bytes.Contains(body, []byte(bin)) {
		t.Fatalf("the unit has no %q", bin)
	}
	copyPath := filepath.Join(t.TempDir(), "restic-manager.service")
	body = bytes.Replace(body, []byte(bin), []byte("ExecStart="+self+" "), 1)
	if err := os.WriteFile(copyPath, body, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"verify", copyPath},
		{"security", "--offline=true", "--threshold=20", copyPath},
	} {
		out, err := exec.Command(analyze, args...).CombinedOutput()
		var complaints []string
		for line := range strings.Lines(string(out)) {
			if args[0] == "verify" && strings.Contains(line, "restic-manager.service") {
				complaints = append(complaints, line)
			}
		}
		if err != nil || len(complaints) > 0 {
			t.Errorf("systemd-analyze %s: %v %q\n%s", args[0], err, complaints, out)
		}
	}
}

// dockerfile is the parts of the Dockerfile the test checks.
type dockerfile struct {
	stages     map[string][]string // stage name -> its RUN commands
	copies     [][]string          // COPY arguments, in order
	volume     string
	expose     []string
	entrypoint []string
	cmd        []string
}

var dockerfileStage = regexp.MustCompile(`(?i)^\S+(?:\s+AS\s+(\S+))?$`)

func readDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := dockerfile{stages: map[string][]string{}}
	stage := ""
	text := strings.ReplaceAll(string(body), "\\\n", " ")
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(word) {
		case "FROM":
			m := dockerfileStage.FindStringSubmatch(rest)
			if m == nil {
				t.Fatalf("FROM %q", rest)
			}
			stage = m[1]
		case "RUN":
			d.stages[stage] = append(d.stages[stage], rest)
		case "COPY", "ADD":
			d.copies = append(d.copies, strings.Fields(rest))
		case "VOLUME":
			d.volume = rest
		case "EXPOSE":
			d.expose = strings.Fields(rest)
		case "ENTRYPOINT", "CMD":
			var v []string
			if err := json.Unmarshal([]byte(rest), &v); err != nil {
				t.Fatalf("%s must be a JSON array (exec form): %v", word, err)
			}
			if strings.EqualFold(word, "CMD") {
				d.cmd = v
			} else {
				d.entrypoint = v
			}
		}
	}
	return d
}

func TestDockerfileBuildsWhatItRunsAndServeAcceptsItsFlags(t *testing.T) {
	t.Parallel()
	d := readDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	makefile, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	// The build stage: every package it builds and every make target it
	// runs exists.
	for _, run := range d.stages["build"] {
		for _, pkg := range regexp.MustCompile(`\./cmd/[a-z-]+`).FindAllString(run, -1) {
			if st, err := os.Stat(filepath.Join(repoRoot, pkg)); err != nil || !st.IsDir() {
				t.Errorf("RUN builds %s, which does not exist", pkg)
			}
		}
		for _, m := range regexp.MustCompile(`make ([a-z-]+)`).FindAllStringSubmatch(run, -1) {
			if !regexp.MustCompile(`(?m)^` + m[1] + `:`).Match(makefile) {
				t.Errorf("RUN runs make %s, which the Makefile does not have", m[1])
			}
		}
	}
	// Every COPY takes what exists: files of the repository, or what a RUN
	// of the stage it copies from made.
	dests := map[string]bool{}
	for _, c := range d.copies {
		from := ""
		var paths []string
		for _, a := range c {
			if v, ok := strings.CutPrefix(a, "--from="); ok {
				from = v
			} else if !strings.HasPrefix(a, "--") {
				paths = append(paths, a)
			}
		}
		if len(paths) < 2 {
			t.Fatalf("COPY %q", c)
		}
		dests[paths[len(paths)-1]] = true
		for _, src := range paths[:len(paths)-1] {
			if from == "" {
				if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
					t.Errorf("COPY %s: %v", src, err)
				}
			} else if !strings.Contains(strings.Join(d.stages[from], "\n"), src) {
				t.Errorf("COPY --from=%s %s: no RUN in stage %q makes it", from, src, from)
			}
		}
	}
	if len(d.entrypoint) != 1 || !dests[d.entrypoint[0]] {
		t.Fatalf("ENTRYPOINT %q is not a file the image copies in (%v)", d.entrypoint, dests)
	}
	if len(d.cmd) == 0 || d.cmd[0] != "serve" {
		t.Fatalf("CMD %q does not run serve", d.cmd)
	}
	checkServeFlags(t, "Dockerfile CMD", d.cmd[1:])
	if data, _ := flagValue(d.cmd, "data"); data != d.volume {
		t.Errorf("--data %q is not the VOLUME %q", data, d.volume)
	}
	if agents, _ := flagValue(d.cmd, "agents-dir"); !dests[agents] {
		t.Errorf("--agents-dir %q is not where the image copies the agents (%v)", agents, dests)
	}
	for _, port := range listenPorts(t, d.cmd) {
		if !slices.Contains(d.expose, port) {
			t.Errorf("serve listens on %s, which EXPOSE %q leaves out", port, d.expose)
		}
	}
}

func TestComposeExampleMatchesTheImage(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(repoRoot, "install")
	body, err := os.ReadFile(filepath.Join(dir, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Build struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
			Image       string            `yaml:"image"`
			Restart     string            `yaml:"restart"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.UnmarshalWithOptions(body, &compose, yaml.Strict()); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	svc, ok := compose.Services["restic-manager"]
	if !ok {
		t.Fatalf("no restic-manager service in %v", compose.Services)
	}
	if _, err := os.Stat(filepath.Join(dir, svc.Build.Context, svc.Build.Dockerfile)); err != nil {
		t.Errorf("build: %v", err)
	}
	if len(svc.Command) == 0 || svc.Command[0] != "serve" {
		t.Fatalf("command %q does not run serve", svc.Command)
	}
	checkServeFlags(t, "docker-compose.yml command", svc.Command[1:])
	image := readDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	data, _ := flagValue(svc.Command, "data")
	agents, _ := flagValue(svc.Command, "agents-dir")
	if wantAgents, _ := flagValue(image.cmd, "agents-dir"); agents != wantAgents || data != image.volume {
		t.Errorf("--data %q --agents-dir %q, the image has %q and %q", data, agents, image.volume, wantAgents)
	}
	mounted := false
	for _, v := range svc.Volumes {
		name, target, _ := strings.Cut(v, ":")
		_, declared := compose.Volumes[name]
		mounted = mounted || (target == data && declared)
	}
	if !mounted {
		t.Errorf("the data directory %s is not on a declared volume: %q", data, svc.Volumes)
	}
	for _, port := range listenPorts(t, svc.Command) {
		published := false
		for _, p := range svc.Ports {
			published = published || strings.HasSuffix(p, ":"+port)
		}
		if !published {
			t.Errorf("serve listens on %s, which ports %q does not publish", port, svc.Ports)
		}
	}
	if _, ok := svc.Environment["RM_MASTER_KEY"]; !ok {
		t.Errorf("environment %v does not pass RM_MASTER_KEY", svc.Environment)
	}
}
