package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// options are the command line of a run.
type options struct {
	server    string
	spawn     bool
	serverBin string
	dataDir   string
	extraArgs string
	token     string
	insecure  bool
	serverPID int
	mqttURL   string
	plain     bool
	adminUser string
	adminPass string

	agents  int
	procs   int
	addrs   int
	creds   string
	workers int

	scenarios []string
	spread    time.Duration
	storm     string
	timeout   time.Duration

	apiClients    int
	apiRate       float64
	dispatchJobs  int
	jobHosts      int
	ingestJobs    int
	ingestRate    int
	ingestSeconds time.Duration
	lineBytes     int
	ingestFlush   string
	apiRequests   int

	heartbeat      time.Duration
	backoffInitial time.Duration
	backoffMax     time.Duration
	resendAfter    time.Duration

	json    bool
	verbose bool
}

// allScenarios in the order "all" runs them: the storm last, since it may
// restart the server.
var allScenarios = []string{"connect", "api", "dispatch", "ingest", "storm"}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("restic-manager-loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&o.server, "server", "", "base URL of a running server (e.g. http://127.0.0.1:8080); needs --token")
	fs.BoolVar(&o.spawn, "spawn", false, "start the real server binary in its own data directory for the run, and stop it after")
	fs.StringVar(&o.serverBin, "server-bin", "", "the server binary --spawn runs (default: restic-manager next to this binary, bin/restic-manager, or on PATH)")
	fs.StringVar(&o.dataDir, "data", "", "--spawn: the server's data directory, kept after the run with the credentials file (default: a temporary one, removed)")
	fs.StringVar(&o.extraArgs, "server-args", "", "--spawn: more flags for serve, space-separated (e.g. \"--mqtt-conn-limit 600\")")
	fs.StringVar(&o.token, "token", os.Getenv("RM_API_TOKEN"), "admin API token of --server (default: $RM_API_TOKEN)")
	fs.BoolVar(&o.insecure, "insecure", false, "do not check the certificate of an https --server")
	fs.IntVar(&o.serverPID, "server-pid", 0, "pid of --server's process, for its RSS, CPU and fds (default: the process listening on its port, found in /proc)")
	fs.StringVar(&o.mqttURL, "mqtt-url", "", "broker URL the agents use (default: the one enrollment gives, MQTT over TLS; mqtt://HOST:PORT for plain TCP)")
	fs.BoolVar(&o.plain, "plain", false, "--spawn: the agents use the server's plain MQTT listener instead of MQTT over TLS")
	fs.StringVar(&o.adminUser, "admin-user", "admin", "user the dashboard timings sign in as")
	fs.StringVar(&o.adminPass, "admin-password", os.Getenv("RM_ADMIN_PASSWORD"), "its password (default: $RM_ADMIN_PASSWORD; --spawn sets its own); without it the dashboard is not timed")
	fs.IntVar(&o.agents, "agents", 100, "simulated agents")
	fs.IntVar(&o.procs, "procs", 1, "processes the agents are spread over")
	fs.IntVar(&o.addrs, "addrs", 0, "loopback source addresses 127.0.x.y the agents connect from, like sites (default: one per 250 agents, at least one per process)")
	fs.StringVar(&o.creds, "creds", "", "credentials file reused by later runs (default: loadgen-creds.json in --data, or in the current directory with --server)")
	fs.IntVar(&o.workers, "setup-workers", 8, "parallel API calls while enrolling and giving repositories")
	scenario := fs.String("scenario", "all", "comma-separated: connect, storm, dispatch, ingest, api, or all")
	fs.DurationVar(&o.spread, "spread", 0, "connect: start the agents spread over this long instead of all at once")
	fs.StringVar(&o.storm, "storm", "", "storm: restart (the spawned server restarts) or drop (every agent drops its connection); default restart with --spawn, else drop")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "longest wait for any one phase (all online, all jobs done)")
	fs.IntVar(&o.apiClients, "api-clients", 8, "dispatch, ingest: parallel API clients")
	fs.Float64Var(&o.apiRate, "api-rate", 2, "ingest: requests a second each API client sends on average while the logs stream, at random moments (a Poisson process), a POST and a GET in turn (0: each as soon as the last is answered, a flood)")
	fs.IntVar(&o.dispatchJobs, "dispatch-jobs", 1000, "dispatch: jobs posted in all")
	fs.IntVar(&o.jobHosts, "job-hosts", 1000, "dispatch, ingest: hosts given a repository, among which jobs go (at most --agents)")
	fs.IntVar(&o.ingestJobs, "ingest-jobs", 100, "ingest: jobs writing logs at once")
	fs.IntVar(&o.ingestRate, "ingest-rate", 500, "ingest: log lines a second per job")
	fs.DurationVar(&o.ingestSeconds, "ingest-duration", 30*time.Second, "ingest: how long each job writes (whole seconds)")
	fs.IntVar(&o.lineBytes, "line-bytes", 100, "ingest: bytes per log line")
	fs.StringVar(&o.ingestFlush, "ingest-flush", flushSecond, "ingest: how a job's log goes out — "+flushSecond+" (each second's lines at once on a ticker started with the job, so jobs started together flush in step: the worst case) or "+flushAgent+" (lines come evenly, a batch goes once the agent's 32 KiB budget is full, the rest on the job's one-second tick, as agent/job_log.go does)")
	fs.IntVar(&o.apiRequests, "api-requests", 50, "api: requests per timed page")
	fs.DurationVar(&o.heartbeat, "heartbeat", 30*time.Second, "agents' heartbeat interval (the agent's default)")
	fs.DurationVar(&o.backoffInitial, "backoff-initial", time.Second, "agents' first reconnect delay (the agent's default), doubled up to --backoff-max, jittered")
	fs.DurationVar(&o.backoffMax, "backoff-max", 30*time.Second, "agents' longest reconnect delay")
	fs.DurationVar(&o.resendAfter, "resend-after", 60*time.Second, "agents republish outbox entries unacknowledged this long (the agent's default)")
	fs.BoolVar(&o.json, "json", false, "print the figures as one JSON object instead of a table")
	fs.BoolVar(&o.verbose, "v", false, "log what each agent runs into (connect errors, refused messages)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q; restic-manager-loadgen --help lists the flags", fs.Arg(0))
	}
	if err := o.check(*scenario); err != nil {
		return nil, err
	}
	return o, nil
}

// check validates the flags together and fills the defaults that depend
// on others.
func (o *options) check(scenario string) error {
	if o.spawn == (o.server != "") {
		return fmt.Errorf("give either --spawn or --server URL")
	}
	if o.server != "" && o.token == "" {
		return fmt.Errorf("--server needs an admin API token: --token or RM_API_TOKEN (restic-manager apitoken create --user admin)")
	}
	if o.agents < 1 || o.procs < 1 || o.procs > o.agents {
		return fmt.Errorf("--agents must be at least 1 and --procs between 1 and --agents")
	}
	if o.addrs == 0 {
		o.addrs = max(o.procs, (o.agents+249)/250)
	}
	if o.addrs < o.procs || o.addrs > 250*250 {
		return fmt.Errorf("--addrs must be between --procs and %d", 250*250)
	}
	for _, s := range strings.Split(scenario, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "all":
			o.scenarios = allScenarios
		case slices.Contains(allScenarios, s):
			if !slices.Contains(o.scenarios, s) {
				o.scenarios = append(o.scenarios, s)
			}
		default:
			return fmt.Errorf("unknown scenario %q: want connect, storm, dispatch, ingest, api or all", s)
		}
	}
	if o.plain && (!o.spawn || o.mqttURL != "") {
		return fmt.Errorf("--plain is for --spawn without --mqtt-url; with --server, give --mqtt-url mqtt://HOST:PORT")
	}
	if o.storm == "" {
		o.storm = "drop"
		if o.spawn {
			o.storm = "restart"
		}
	}
	if o.storm != "drop" && o.storm != "restart" {
		return fmt.Errorf("--storm is restart or drop, not %q", o.storm)
	}
	if o.storm == "restart" && !o.spawn {
		return fmt.Errorf("--storm restart needs --spawn: only a server the loadgen started can be restarted by it")
	}
	o.jobHosts = min(o.jobHosts, o.agents)
	if o.has("ingest") && o.ingestJobs > o.jobHosts {
		return fmt.Errorf("--ingest-jobs (%d) needs as many --job-hosts (%d, at most --agents)", o.ingestJobs, o.jobHosts)
	}
	if o.ingestSeconds < time.Second || o.ingestRate < 1 || o.lineBytes < 40 || o.lineBytes > 16<<10 {
		return fmt.Errorf("--ingest-duration must be at least 1s, --ingest-rate at least 1, --line-bytes between 40 and 16384")
	}
	if o.ingestFlush != flushSecond && o.ingestFlush != flushAgent {
		return fmt.Errorf("--ingest-flush is %s or %s, not %q", flushSecond, flushAgent, o.ingestFlush)
	}
	if o.apiRate < 0 {
		return fmt.Errorf("--api-rate must be 0 (no pause) or more")
	}
	if o.apiClients < 1 || o.dispatchJobs < 1 || o.apiRequests < 1 || o.heartbeat <= 0 || o.backoffInitial <= 0 {
		return fmt.Errorf("--api-clients, --dispatch-jobs, --api-requests, --heartbeat and --backoff-initial must be positive")
	}
	o.backoffMax = max(o.backoffMax, o.backoffInitial)
	return nil
}

func (o *options) has(scenario string) bool { return slices.Contains(o.scenarios, scenario) }

// sourceAddrs are the loopback addresses the agents connect from:
// 127.0.0.2 onwards, 250 per third octet.
func sourceAddrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("127.0.%d.%d", i/250, 2+i%250)
	}
	return out
}
