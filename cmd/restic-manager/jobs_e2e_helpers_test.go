package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/agenttest"
)

// jobJSON is a job as GET /api/v1/jobs/{id} shows it (DESIGN §6).
type jobJSON struct {
	ID         int64   `json:"id"`
	UID        string  `json:"uid"`
	HostID     string  `json:"host_id"`
	Kind       string  `json:"kind"`
	Status     string  `json:"status"`
	ExitCode   *int    `json:"exit_code"`
	Reason     string  `json:"reason"`
	Detail     string  `json:"detail"`
	SnapshotID string  `json:"snapshot_id"`
	LogLines   int64   `json:"log_lines"`
	Summary    *result `json:"summary"`
	// #4: the schedule that started it on the agent.
	ScheduleID   int64      `json:"schedule_id"`
	ScheduledFor *time.Time `json:"scheduled_for"`
}

type result struct {
	LogLines   uint64 `json:"log_lines"`
	SnapshotID string `json:"snapshot_id"`
	Backup     *struct {
		FilesNew  uint64 `json:"files_new"`
		DataAdded uint64 `json:"data_added"`
	} `json:"backup"`
	FilesRestored uint64   `json:"files_restored"`
	WouldRemove   []string `json:"would_remove"`
}

func (j jobJSON) terminal() bool {
	switch j.Status {
	case "succeeded", "warning", "failed", "canceled", "expired", "interrupted":
		return true
	}
	return false
}

// jobEnv is one server and one enrolled real agent process, ready for jobs.
type jobEnv struct {
	t         *testing.T
	dir       string
	dataDir   string
	mqttsAddr string
	m         *Main
	apiToken  string
	hostID    string
	hostName  string
	cfgPath   string
	// resticLog is where the restic wrapper appends each command line it runs.
	resticLog string
	// hold: while this file exists, the wrapper holds every backup before
	// restic starts (a test makes the agent busy, then lets it go).
	hold  string
	agent *agentProc
}

// newJobEnv starts a server, enrolls a host with the real agent binary and
// points its restic_binary at a wrapper that records every restic command
// line (never a secret: those travel in the environment) before running
// the real restic. The agent is not started; call startAgent.
func newJobEnv(t *testing.T, name string) *jobEnv {
	t.Helper()
	return newJobEnvWith(t, name, agentBin)
}

// newJobEnvWith is newJobEnv with the agent binary that enrolls (agent)
// and tweaks of the server (e.g. its AgentsDir).
func newJobEnvWith(t *testing.T, name, agent string, tweak ...func(*Main)) *jobEnv {
	t.Helper()
	realRestic := agenttest.RequireBinary(t, "restic")
	e := &jobEnv{t: t, dir: t.TempDir(), hostName: name}
	e.dataDir = filepath.Join(e.dir, "data")
	e.m = startServer(t, e.dataDir, "127.0.0.1:0", tweak...)
	e.mqttsAddr = e.m.Broker().TLSAddr().String()
	e.apiToken = cli(t, "", "apitoken", "create", "--user", "admin", "--data", e.dataDir)

	tok := cli(t, "", "token", "create", "--host", name, "--data", e.dataDir)
	e.cfgPath = filepath.Join(e.dir, "agent", "agent.yaml")
	enroll := exec.Command(agent, "enroll", "--server", e.m.HTTPSURL(), "--token", tok,
		"--ca-fingerprint", e.m.TLS().Fingerprint, "--config", e.cfgPath, "--state-dir", filepath.Join(e.dir, "agent", "state"))
	if out, err := enroll.CombinedOutput(); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	e.resticLog, e.hold = filepath.Join(e.dir, "restic-calls.log"), filepath.Join(e.dir, "hold")
	wrapper := filepath.Join(e.dir, "restic-wrapper")
	script := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %q\ncase \"$*\" in *backup*) while [ -f %q ]; do sleep 0.1; done;; esac\nexec %q \"$@\"\n",
		e.resticLog, e.hold, realRestic)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e.setAgentConfig("restic_binary", wrapper)
	hosts, err := e.m.Service().ListHosts(t.Context())
	if err != nil || len(hosts) != 1 {
		t.Fatalf("hosts after enroll: %v %+v", err, hosts)
	}
	e.hostID = hosts[0].ID
	return e
}

// setAgentConfig sets one top-level key of the agent's YAML config.
func (e *jobEnv) setAgentConfig(key, value string) {
	e.t.Helper()
	data, err := os.ReadFile(e.cfgPath)
	if err != nil {
		e.t.Fatal(err)
	}
	line := fmt.Sprintf("%s: %q", key, value)
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `:.*$`)
	if re.Match(data) {
		data = re.ReplaceAll(data, []byte(line))
	} else {
		data = append(bytes.TrimRight(data, "\n"), []byte("\n"+line+"\n")...)
	}
	if err := os.WriteFile(e.cfgPath, data, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *jobEnv) api() apiClient { return apiClient{t: e.t, base: e.m.HTTPURL(), token: e.apiToken} }

// startAgent runs the agent and waits until the server sees it online.
func (e *jobEnv) startAgent() {
	e.t.Helper()
	e.agent = startAgent(e.t, e.cfgPath)
	e.waitOnline(30 * time.Second)
}

func (e *jobEnv) waitOnline(d time.Duration) {
	e.t.Helper()
	waitFor(e.t, "host online", d, func() bool {
		var h hostJSON
		return e.api().do("GET", "/api/v1/hosts/"+e.hostID, nil, &h) == http.StatusOK && h.Online
	})
}

// restart stops the server and starts it again on the same data and MQTTS
// address (the agent reconnects by itself).
func (e *jobEnv) stopServer() {
	e.t.Helper()
	if err := e.m.Close(); err != nil {
		e.t.Fatalf("close server: %v", err)
	}
}

func (e *jobEnv) startServerAgain() {
	e.t.Helper()
	e.m = startServer(e.t, e.dataDir, e.mqttsAddr)
}

// setRepository sets the host's repository through the API and waits for
// the init job the server queues for it to end; it returns that job.
func (e *jobEnv) setRepository(url, password string) jobJSON {
	e.t.Helper()
	before := e.latestJob("init")
	if code := e.api().do("PUT", "/api/v1/hosts/"+e.hostID+"/repository",
		map[string]any{"url": url, "password": password}, nil); code != http.StatusOK && code != http.StatusCreated {
		e.t.Fatalf("set repository: HTTP %d", code)
	}
	var init jobJSON
	waitFor(e.t, "an init job", 10*time.Second, func() bool {
		init = e.latestJob("init")
		return init.ID != 0 && init.ID != before.ID
	})
	return e.waitJob(init.ID, 60*time.Second)
}

// setReadyRepository makes path an initialised repository with cheap key
// derivation (agenttest.InitRepository), then sets it like setRepository:
// the agent's init job finds it there, opens it and counts it ready, and
// every later restic run opens it at once instead of paying the ~0.5 s of
// scrypt restic init calibrates. Tests whose subject is the auto-init
// itself (TestJobsHappyPath, the accept in TestAnnounceAcceptRejectEndToEnd) call
// setRepository on a new path.
func (e *jobEnv) setReadyRepository(path, password string) jobJSON {
	e.t.Helper()
	agenttest.InitRepository(e.t, path, password)
	return e.setRepository(path, password)
}

// latestJob is the host's newest job of a kind (zero if none).
func (e *jobEnv) latestJob(kind string) jobJSON {
	e.t.Helper()
	var list struct {
		Jobs []jobJSON `json:"jobs"`
	}
	if code := e.api().do("GET", "/api/v1/jobs?host="+e.hostID+"&kind="+kind, nil, &list); code != http.StatusOK {
		e.t.Fatalf("list jobs: HTTP %d", code)
	}
	if len(list.Jobs) == 0 {
		return jobJSON{}
	}
	return list.Jobs[0]
}

// runJob queues a job through the API and returns its id.
func (e *jobEnv) runJob(body map[string]any) int64 {
	e.t.Helper()
	var j jobJSON
	if code := e.api().do("POST", "/api/v1/hosts/"+e.hostID+"/jobs", body, &j); code != http.StatusCreated && code != http.StatusOK {
		e.t.Fatalf("create job %v: HTTP %d", body, code)
	}
	if j.ID == 0 {
		e.t.Fatalf("create job %v: no id in the answer", body)
	}
	return j.ID
}

func (e *jobEnv) job(id int64) jobJSON {
	e.t.Helper()
	var j jobJSON
	if code := e.api().do("GET", fmt.Sprintf("/api/v1/jobs/%d", id), nil, &j); code != http.StatusOK {
		e.t.Fatalf("get job %d: HTTP %d", id, code)
	}
	return j
}

// waitJob waits for a job to reach a terminal state and returns it.
func (e *jobEnv) waitJob(id int64, d time.Duration) jobJSON {
	e.t.Helper()
	var j jobJSON
	deadline := time.Now().Add(d)
	for {
		j = e.job(id)
		if j.terminal() {
			return j
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %d still %s after %s\nagent log:\n%s", id, j.Status, d, e.agentLogs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitStatus waits until the job has the status.
func (e *jobEnv) waitStatus(id int64, status string, d time.Duration) {
	e.t.Helper()
	waitFor(e.t, fmt.Sprintf("job %d %s", id, status), d, func() bool { return e.job(id).Status == status })
}

func (e *jobEnv) agentLogs() string {
	if e.agent == nil {
		return "(no agent)"
	}
	return e.agent.logs.String()
}

// jobLog is the job's stored log lines, checked to be numbered 1..n
// without gaps or duplicates.
func (e *jobEnv) jobLog(id int64) []string {
	e.t.Helper()
	lines, err := e.m.Service().JobLog(e.t.Context(), id, 0, 1000000)
	if err != nil {
		e.t.Fatalf("job log: %v", err)
	}
	var texts []string
	for i, l := range lines {
		if l.N != uint64(i+1) {
			e.t.Fatalf("job %d log: line %d is numbered %d (gap or duplicate)", id, i+1, l.N)
		}
		texts = append(texts, l.Text)
	}
	// The API's text log has the same lines.
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/jobs/%d/log", e.m.HTTPURL(), id), nil)
	req.Header.Set("Authorization", "Bearer "+e.apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET job log: HTTP %d", resp.StatusCode)
	}
	for _, l := range texts {
		if !strings.Contains(string(body), l) {
			e.t.Fatalf("the API log lacks line %q", l)
		}
	}
	return texts
}

// resticCalls returns the restic command lines the agent ran whose
// subcommand is sub.
func (e *jobEnv) resticCalls(sub string) []string {
	data, _ := os.ReadFile(e.resticLog)
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		for _, f := range strings.Fields(l) {
			if strings.HasPrefix(f, "-") {
				continue
			}
			if f == sub {
				out = append(out, l)
			}
			break
		}
	}
	return out
}

// repoSnapshots lists the repository's snapshots with restic itself.
func repoSnapshots(t *testing.T, repo, password string) []string {
	t.Helper()
	cmd := exec.Command(agenttest.RequireBinary(t, "restic"), "snapshots", "--json", "--no-lock")
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+repo, "RESTIC_PASSWORD="+password)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("restic snapshots: %v", err)
	}
	var snaps []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &snaps); err != nil {
		t.Fatalf("restic snapshots: %v: %s", err, out)
	}
	var ids []string
	for _, s := range snaps {
		ids = append(ids, s.ID)
	}
	return ids
}

// makeData writes n files of size bytes of random (incompressible) data
// under dir and returns dir.
func makeData(t testing.TB, dir string, n, size int) string {
	t.Helper()
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", i%10))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, size)
		rand.Read(b)
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%05d.bin", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tcpProxy forwards loopback connections to a target and can cut the link:
// Cut closes every open connection and refuses new ones until Restore.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func newTCPProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.Cut() })
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close(); c.Close() }()
		go func() { io.Copy(c, up); up.Close(); c.Close() }()
	}
}

// Cut drops every connection through the proxy and refuses new ones.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore lets connections through again.
func (p *tcpProxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// sameTree fails unless every regular file under want exists under got
// with the same content.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(want, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(want, path)
		a, _ := os.ReadFile(path)
		b, err := os.ReadFile(filepath.Join(got, rel))
		if err != nil {
			return fmt.Errorf("restored tree lacks %s: %w", rel, err)
		}
		if !bytes.Equal(a, b) {
			return fmt.Errorf("restored %s differs", rel)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("compared no files")
	}
}
