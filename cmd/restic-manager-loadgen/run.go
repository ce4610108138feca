package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// loadRun is one run of the parent: the server under load, its API, the
// enrolled identities and the child processes running them.
type loadRun struct {
	o      *options
	srv    *spawnedServer // nil with --server
	api    *apiClient
	pid    int // the server's, 0 when unknown
	creds  *credCache
	agents []credHost
	fleet  *fleet
	fig    *figures
	// peakFDs is the most descriptors the server held at a poll of the
	// last waitOnline.
	peakFDs int
	// slowestPoll is the longest walk of GET /api/v1/hosts (every page of
	// pollPageSize) of the last waitOnline, slowestPage its longest single
	// request: how responsive the API stayed while the agents came.
	slowestPoll, slowestPage time.Duration
	logf                     func(format string, args ...any)
}

// run is the parent: it readies the server and the identities, starts the
// children, runs the scenarios and prints the figures.
func run(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	soft, _ := raiseFDLimit()
	r := &loadRun{o: o, pid: o.serverPID, logf: func(format string, args ...any) {
		fmt.Fprintf(stderr, "loadgen: "+format+"\n", args...)
	}}
	r.fig = &figures{Date: time.Now().UTC().Format(time.RFC3339), Agents: o.agents, Procs: o.procs, Addrs: o.addrs, FDLimit: soft}
	if err := r.startServer(ctx); err != nil {
		return err
	}
	if r.srv != nil {
		defer r.srv.shutdown()
	}
	if err := r.setup(ctx); err != nil {
		return err
	}
	scenErr := r.scenarios(ctx)
	if scenErr != nil {
		r.fig.Failures = append(r.fig.Failures, strings.Split(scenErr.Error(), "\n")...)
	}
	if st, err := r.fleet.stats(); err == nil {
		r.fig.LoadgenCPUSeconds = st.cpuSeconds + cpuSeconds(os.Getpid())
		r.fig.ConnectErrors, r.fig.FirstConnectError, r.fig.RefusedCredentials = st.connectErrors, st.firstError, st.refused
		r.fig.TLSHandshakes, r.fig.TLSResumed = st.handshakes, st.resumed
		// After a scenario cut short, entries still in flight say nothing.
		if st.pending > 0 && scenErr == nil {
			r.fig.Failures = append(r.fig.Failures, fmt.Sprintf("%d outbox entries never acknowledged by the server", st.pending))
		}
	}
	if err := r.fleet.stop(); err != nil {
		r.fig.Failures = append(r.fig.Failures, err.Error())
	}
	r.fig.print(stdout, o.json)
	if len(r.fig.Failures) > 0 {
		return fmt.Errorf("%d figure(s) not as they should be: %s", len(r.fig.Failures), strings.Join(r.fig.Failures, "; "))
	}
	return nil
}

// startServer spawns the server or takes the one named.
func (r *loadRun) startServer(ctx context.Context) error {
	o := r.o
	if !o.spawn {
		r.api = newAPIClient(o.server, o.token, o.insecure)
		r.fig.Server = o.server
		if r.pid == 0 {
			r.pid = serverPIDOf(o.server)
		}
		if r.pid != 0 {
			r.logf("server pid %d", r.pid)
		}
		return nil
	}
	bin, err := findServerBin(o.serverBin)
	if err != nil {
		return err
	}
	dir := o.dataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "restic-manager-loadgen-"); err != nil {
			return err
		}
		defer func() {
			if r.srv == nil {
				os.RemoveAll(dir)
			}
		}()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	srv := &spawnedServer{bin: bin, dataDir: dir, extra: strings.Fields(o.extraArgs), password: "loadgen admin " + randomHex(8)}
	if err := srv.resetAdminPassword(ctx); err != nil {
		return err
	}
	if err := srv.start(ctx); err != nil {
		return err
	}
	token, err := srv.apiToken(ctx)
	if err != nil {
		srv.stop()
		return err
	}
	r.srv, r.pid = srv, srv.pid()
	if o.dataDir == "" {
		r.srv.removeOnStop = true
	}
	o.adminPass = srv.password
	r.api = newAPIClient(srv.webURL, token, false)
	r.fig.Server = srv.webURL + " (spawned: " + bin + ")"
	r.logf("server %s started, pid %d, data in %s", srv.webURL, r.pid, dir)
	return nil
}

// serverPIDOf finds the pid of a server on this machine from its URL's
// port (listenerPID), when --server-pid is not given.
func serverPIDOf(server string) int {
	u, err := url.Parse(server)
	if err != nil {
		return 0
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		switch u.Scheme {
		case "https":
			port = 443
		default:
			port = 80
		}
	}
	return listenerPID(port)
}

// setup enrolls (or reuses) the identities and starts the children.
func (r *loadRun) setup(ctx context.Context) error {
	o := r.o
	var boot topics.BootstrapResponse
	if _, err := r.api.do(ctx, "GET", topics.BootstrapPath, nil, &boot); err != nil {
		return fmt.Errorf("the server's bootstrap answer: %w", err)
	}
	path := o.creds
	if path == "" && (o.dataDir != "" || o.server != "") {
		path = filepath.Join(o.dataDir, "loadgen-creds.json")
	}
	creds, err := loadCreds(path, boot.CAFingerprint)
	if err != nil {
		return err
	}
	hosts, _, _, err := r.api.listHosts(ctx, pollPageSize)
	if err != nil {
		return err
	}
	creds.keepKnown(hosts)
	r.creds = creds
	cached := len(creds.Hosts)
	start := time.Now()
	if err := creds.enroll(ctx, r.api, o.agents, o.workers, func(n int) { r.logf("enrolled %d", n) }); err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	r.fig.Setup = setupFigures{Reused: min(cached, o.agents), Enrolled: max(0, o.agents-cached), EnrollSeconds: time.Since(start).Seconds()}
	if r.srv != nil && r.fig.Setup.Enrolled > 0 {
		// A fresh process, so the RSS per agent is not measured on top of
		// the enrollment's heap.
		r.srv.stop()
		if err := r.srv.start(ctx); err != nil {
			return err
		}
		r.pid = r.srv.pid()
	}
	r.agents = creds.Hosts[:o.agents]
	mqttURL := o.mqttURL
	switch {
	case o.plain:
		mqttURL = "mqtt://" + r.srv.mqttAddr
	case mqttURL == "":
		mqttURL = boot.MQTTURL
	}
	r.fig.MQTT = mqttURL
	r.fig.TLS = strings.HasPrefix(mqttURL, "mqtts:")
	self, err := os.Executable()
	if err != nil {
		return err
	}
	specs := make([]childSpec, o.procs)
	addrs := sourceAddrs(o.addrs)
	for p := range specs {
		specs[p] = childSpec{Index: p, MQTTURL: mqttURL, CACert: boot.CACert, Heartbeat: o.heartbeat,
			BackoffInitial: o.backoffInitial, BackoffMax: o.backoffMax, ResendAfter: o.resendAfter,
			LineBytes: o.lineBytes, Verbose: o.verbose}
	}
	for i, a := range addrs {
		specs[i%o.procs].Addrs = append(specs[i%o.procs].Addrs, a)
	}
	for i, h := range r.agents {
		specs[i%o.procs].Agents = append(specs[i%o.procs].Agents, h)
	}
	r.logf("%d agents (%d enrolled now, %d reused) in %d processes from %d source addresses, broker %s",
		o.agents, r.fig.Setup.Enrolled, r.fig.Setup.Reused, o.procs, o.addrs, mqttURL)
	if r.fleet, err = startFleet(ctx, self, specs); err != nil {
		return err
	}
	return nil
}

// scenarios runs the chosen scenarios; connect always runs first, as the
// others need the fleet online, and a failed connect ends the run. A later
// scenario's failure is reported and the next one still runs.
func (r *loadRun) scenarios(ctx context.Context) error {
	o := r.o
	if err := r.connect(ctx); err != nil {
		return err
	}
	var errs []error
	step := func(name string, fn func(context.Context) error) {
		if o.has(name) && ctx.Err() == nil {
			if err := fn(ctx); err != nil {
				r.logf("%s: %v", name, err)
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	step("api", r.apiTimings)
	if o.has("dispatch") || o.has("ingest") {
		if err := r.repositories(ctx); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	step("dispatch", r.dispatch)
	step("ingest", r.ingest)
	step("storm", r.storm)
	return errors.Join(errs...)
}

// repositories gives the job hosts a repository and waits until their
// agents have answered the init jobs that come with it.
func (r *loadRun) repositories(ctx context.Context) error {
	hosts := r.agents[:r.o.jobHosts]
	want := 0
	for _, h := range hosts {
		if !h.Repo {
			want++
		}
	}
	if want == 0 {
		return nil
	}
	start := time.Now()
	if err := r.creds.giveRepositories(ctx, r.api, hosts, r.o.workers); err != nil {
		return fmt.Errorf("give repositories: %w", err)
	}
	inits := 0
	deadline := time.Now().Add(r.o.timeout)
	for inits < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d init jobs answered after %s", inits, want, r.o.timeout)
		}
		recs, err := r.fleet.jobs()
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if rec.Kind == string(topics.JobInit) {
				inits++
			}
		}
		if inits < want {
			time.Sleep(250 * time.Millisecond)
		}
	}
	r.logf("%d repositories set and initialised in %.1f s", want, time.Since(start).Seconds())
	return nil
}
