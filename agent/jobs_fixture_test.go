package agent_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/broker/brokertest"
	"github.com/restic-manager/restic-manager/topics"
)

// jobTimeout bounds waits for jobs, which run the real restic (a backup
// of a few MiB takes a second or two; under -race on a loaded machine
// more).
const jobTimeout = 60 * time.Second

// repoPassword is long and distinctive so that a leak is easy to find.
const repoPassword = "pw-agent-Kq7-correct-horse-staple"

// childEnv, set to a config file, makes the test binary run an agent from
// that config instead of the tests (the SIGKILL test starts it so).
const childEnv = "RM_AGENT_TEST_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(runChildAgent(path))
	}
	flag.Parse()
	parallelUnlessSet(4) // 8 exposed timing races in two tests (fixed) while cmd/restic-manager, the critical path, ran beside it
	os.Exit(m.Run())
}

// parallelUnlessSet lets up to n parallel tests run at once, unless the
// command line chose (-parallel). The default, GOMAXPROCS, suits tests that
// compute; the job tests mostly wait for restic (a rate-limited backup, a
// check reading at 128 KiB/s) and the broker, so on a 2-core machine two at
// a time leaves both cores idle most of the time.
func parallelUnlessSet(n int) {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if err := flag.Set("test.parallel", strconv.Itoa(n)); err != nil {
			panic(err)
		}
	}
}

// runChildAgent runs an agent until it is killed (or SIGTERM'd).
func runChildAgent(path string) int {
	cfg, err := agent.LoadConfig(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := agent.New(cfg, logger, fastOptions...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := agent.RunService(path, logger, a.Run); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// resticEnv is the environment for running restic directly in a test.
func resticEnv(repo, cache string) []string {
	return append(os.Environ(), "RESTIC_REPOSITORY="+repo, "RESTIC_PASSWORD="+repoPassword, "RESTIC_CACHE_DIR="+cache)
}

// newRepo returns a fresh, empty, initialised repository with cheap key
// derivation (agenttest.InitRepository): every restic run of a job test
// opens it. TestJobsInitBackupSnapshots, whose subject is init, has the
// agent's init job make its repository with restic's own init.
func newRepo(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "repo")
	agenttest.InitRepository(t, dst, repoPassword)
	return dst
}

// jobEnv is everything a job test needs: the real broker, a host it
// accepts, the server double, an agent config running the real restic,
// and a repository.
type jobEnv struct {
	t      *testing.T
	auth   *brokertest.StaticAuth
	h      host
	b      *testBroker
	srv    *jobServer
	cfg    *agent.Config
	restic string // the real restic
	repo   string // a local repository path (a copy of the template)
	cache  string // restic's cache for this test
}

// newJobEnv starts the broker and the server double and prepares the
// config and repository; the test then starts the agent. A job test runs
// in parallel with the other job tests (t.Parallel): each
// has its own broker, host, state directory, repository and cache, and
// spends most of its time waiting for restic and the network.
func newJobEnv(t *testing.T) *jobEnv {
	t.Helper()
	t.Parallel()
	resticPath := agenttest.RequireBinary(t, "restic")
	auth := brokertest.NewStaticAuth()
	h := newHost(t, auth)
	b := startBroker(t, "127.0.0.1:0", auth, nil)
	e := &jobEnv{t: t, auth: auth, h: h, b: b, restic: resticPath, cache: t.TempDir()}
	e.srv = newJobServer(t, h.id, b)
	e.cfg = plainConfig(t, h, b.TCPAddr())
	e.cfg.ResticBinary = resticPath
	e.repo = newRepo(t)
	return e
}

// start runs the agent (in-process) with restic's cache in the test's
// temp dir, and waits for its hello: as for the real server, what is sent
// before the agent's first subscription is lost.
func (e *jobEnv) start(opts ...agent.Option) *runningAgent {
	e.t.Helper()
	a := startAgent(e.t, e.cfg, append([]agent.Option{agent.WithResticEnv("RESTIC_CACHE_DIR=" + e.cache)}, opts...)...)
	e.waitHello(a.BootID())
	return a
}

// waitHello waits for a hello of the agent process with bootID.
func (e *jobEnv) waitHello(bootID string) topics.Hello {
	e.t.Helper()
	var h topics.Hello
	e.srv.waitUntil("hello of boot "+bootID, func() bool {
		for _, hl := range e.srv.hellos {
			if hl.BootID == bootID {
				h = hl
				return true
			}
		}
		return false
	})
	return h
}

// startConfigured starts the agent and applies config version 1 with the
// test repository.
func (e *jobEnv) startConfigured(opts ...agent.Option) *runningAgent {
	e.t.Helper()
	a := e.start(opts...)
	e.configure()
	return a
}

// countCalls makes the agent run restic through agenttest.CountingRestic
// and returns the list of calls. Call it before start.
func (e *jobEnv) countCalls() func() []string {
	e.t.Helper()
	var calls func() []string
	e.cfg.ResticBinary, calls = agenttest.CountingRestic(e.t, e.restic)
	return calls
}

// repoConfig is the repository config for e.repo.
func (e *jobEnv) repoConfig() *topics.RepositoryConfig {
	return &topics.RepositoryConfig{URL: e.repo, Password: repoPassword}
}

// configure sends config version 1 with the test repository and waits
// until the agent reports it applied.
func (e *jobEnv) configure() {
	e.t.Helper()
	e.srv.sendConfig(1, e.repoConfig())
	e.srv.waitUntil("config version 1 applied", func() bool {
		for _, st := range e.srv.statuses {
			if st.ConfigVersion == 1 {
				return true
			}
		}
		return false
	})
}

// resticJSON runs restic directly on e.repo and returns its stdout.
func (e *jobEnv) resticCmd(args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.restic, args...)
	cmd.Env = resticEnv(e.repo, e.cache)
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("restic %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// backupSpec is a backup of paths.
func backupSpec(paths ...string) topics.JobSpec {
	return topics.JobSpec{Kind: topics.JobBackup, Paths: paths}
}

// slowBackupSpec backs up dir at 256 KiB/s: with newSource's megabytes it
// runs for seconds, long enough to do something in the middle.
func slowBackupSpec(dir string) topics.JobSpec {
	s := backupSpec(dir)
	s.BandwidthUpKBps = 256
	return s
}

// newSource returns a temporary directory of files (random, so restic
// cannot compress or dedup them) totalling about size bytes, from a fixed
// seed.
func newSource(t *testing.T, files, size int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, uint64(files)))
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("d%d", i%3), fmt.Sprintf("file%03d.bin", i))
		data := make([]byte, size/files)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// logText joins a job's log lines, one per line, with their streams.
func logText(lines []topics.LogLine) string {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s: %s\n", l.Stream, l.Text)
	}
	return b.String()
}

// states lists the states of events in order.
func states(evs []topics.JobEvent) []topics.JobState {
	var out []topics.JobState
	for _, ev := range evs {
		out = append(out, ev.State)
	}
	return out
}

// checkVersions checks that a job's events carry strictly increasing
// versions starting above the command's version 1.
func checkVersions(t *testing.T, evs []topics.JobEvent) {
	t.Helper()
	prev := int64(1)
	for _, ev := range evs {
		if ev.Version <= prev {
			t.Fatalf("event %s has version %d after %d: %+v", ev.State, ev.Version, prev, evs)
		}
		prev = ev.Version
	}
}

// noSecrets fails if the repository password is in text.
func noSecrets(t *testing.T, what, text string) {
	t.Helper()
	if strings.Contains(text, repoPassword) {
		t.Fatalf("the repository password is in the %s", what)
	}
}
