package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// figures are what a run measured: the rows of issue #15's table. Absent
// scenarios are nil; zero figures that need /proc were not measurable.
type figures struct {
	Date    string `json:"date"`
	Server  string `json:"server"`
	MQTT    string `json:"mqtt"`
	TLS     bool   `json:"tls"`
	Agents  int    `json:"agents"`
	Procs   int    `json:"procs"`
	Addrs   int    `json:"source_addrs"`
	FDLimit uint64 `json:"fd_limit"`
	// LoadgenCPUSeconds is the CPU the loadgen's processes used in all: on
	// a machine shared with the server, the client's cost is in the figures.
	LoadgenCPUSeconds float64 `json:"loadgen_cpu_s"`
	// ConnectErrors counts the agents' failed connection attempts (refused,
	// timed out, TLS), FirstConnectError is the first one's reason.
	ConnectErrors     int    `json:"connect_errors"`
	FirstConnectError string `json:"first_connect_error,omitempty"`
	// RefusedCredentials counts CONNECTs the broker refused as bad
	// credentials: each costs the agent simRefusedRetry, as the real agent.
	RefusedCredentials int              `json:"refused_credentials,omitempty"`
	Setup              setupFigures     `json:"setup"`
	Connect            *connectFigures  `json:"connect,omitempty"`
	API                *apiFigures      `json:"api,omitempty"`
	Dispatch           *dispatchFigures `json:"dispatch,omitempty"`
	Ingest             *ingestFigures   `json:"ingest,omitempty"`
	Storm              *stormFigures    `json:"storm,omitempty"`
	Failures           []string         `json:"failures,omitempty"`

	// TLSHandshakes counts the agents' TLS handshakes in the whole run,
	// TLSResumed those that resumed a session (a ticket).
	TLSHandshakes int64 `json:"tls_handshakes,omitempty"`
	TLSResumed    int64 `json:"tls_resumed,omitempty"`
}

type setupFigures struct {
	Enrolled      int     `json:"enrolled"`
	Reused        int     `json:"reused"`
	EnrollSeconds float64 `json:"enroll_s"`
}

type connectFigures struct {
	Agents             int     `json:"agents"`
	SpreadSeconds      float64 `json:"spread_s"`
	Online             int     `json:"online"`
	AllOnlineSeconds   float64 `json:"all_online_s"`
	AgentsSideSeconds  float64 `json:"agents_side_s"`
	RSSBeforeMiB       float64 `json:"rss_before_mib"`
	RSSAfterMiB        float64 `json:"rss_after_mib"`
	RSSPerAgentKiB     float64 `json:"rss_per_agent_kib"`
	ServerFDsPerAgent  float64 `json:"server_fds_per_agent"`
	ServerFDsPeak      int     `json:"server_fds_peak"`
	LoadgenFDsPerAgent float64 `json:"loadgen_fds_per_agent"`
	// ServerCPUSeconds is the server's CPU from the start of the connect
	// until every agent was online; HostListMaxMs the slowest host list
	// (every page of 500) meanwhile, HostPageMaxMs its slowest page.
	ServerCPUSeconds float64 `json:"server_cpu_s,omitempty"`
	HostListMaxMs    float64 `json:"host_list_max_ms,omitempty"`
	HostPageMaxMs    float64 `json:"host_page_max_ms,omitempty"`
}

type stormFigures struct {
	Kind              string  `json:"kind"`
	Agents            int     `json:"agents"`
	Online            int     `json:"online"`
	LeftBehind        int     `json:"left_behind"`
	AllOnlineSeconds  float64 `json:"all_online_s"`
	AgentsSideSeconds float64 `json:"agents_side_s"`
	APIDownSeconds    float64 `json:"api_down_s,omitempty"`
	ServerFDsPeak     int     `json:"server_fds_peak"`
	// StopSeconds is how long the spawned server took to stop (restart).
	StopSeconds float64 `json:"stop_s,omitempty"`
	// TLSHandshakes counts the agents' TLS handshakes from the storm until
	// every agent was back, TLSResumed those that resumed a session.
	TLSHandshakes int64 `json:"tls_handshakes,omitempty"`
	TLSResumed    int64 `json:"tls_resumed,omitempty"`
	// ServerCPUSeconds is the server's CPU from the storm until every agent
	// was back (with a restart, the new process's, its start included);
	// HostListMaxMs the slowest host list (every page of 500) meanwhile,
	// HostPageMaxMs its slowest page.
	ServerCPUSeconds float64 `json:"server_cpu_s,omitempty"`
	HostListMaxMs    float64 `json:"host_list_max_ms,omitempty"`
	HostPageMaxMs    float64 `json:"host_page_max_ms,omitempty"`
}

type dispatchFigures struct {
	Clients        int     `json:"clients"`
	Jobs           int     `json:"jobs"`
	Hosts          int     `json:"hosts"`
	Done           int     `json:"done"`
	Errors         int     `json:"errors"`
	HTTP5xx        int     `json:"http_5xx"`
	PostsPerSecond float64 `json:"posts_per_s"`
	POST           latency `json:"post"`
	ToAgent        latency `json:"to_agent"`
	Delivered      latency `json:"delivered"`
}

type ingestFigures struct {
	Jobs             int     `json:"jobs"`
	Rate             int     `json:"rate"`
	Seconds          float64 `json:"seconds"`
	LineBytes        int     `json:"line_bytes"`
	Flush            string  `json:"flush"`
	Expected         int64   `json:"expected"`
	Stored           int64   `json:"stored"`
	Lost             int64   `json:"lost"`
	Doubled          int64   `json:"doubled"`
	ElapsedSeconds   float64 `json:"elapsed_s"`
	AckWaitSeconds   float64 `json:"ack_wait_s"`
	LinesPerSecond   float64 `json:"lines_per_s"`
	ServerCPUPercent float64 `json:"server_cpu_percent"`
	ServerRSSMiB     float64 `json:"server_rss_mib"`
	APIClients       int     `json:"api_clients"`
	APIRate          float64 `json:"api_rate"`
	APIPost          latency `json:"api_post"`
	APIGet           latency `json:"api_get"`
	APIErrors        int     `json:"api_errors"`
	API5xx           int     `json:"api_5xx"`
}

type apiFigures struct {
	Hosts        int      `json:"hosts"`
	HostsList    latency  `json:"hosts_list"`
	FirstPage    latency  `json:"hosts_first_page"`
	FirstPageKiB float64  `json:"hosts_first_page_kib"`
	Dashboard    *latency `json:"dashboard,omitempty"`
	DashboardKiB float64  `json:"dashboard_kib,omitempty"`
}

// print writes the figures as a table (the rows) or as JSON.
func (f *figures) print(w io.Writer, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(f)
		return
	}
	tls := "plain MQTT"
	if f.TLS {
		tls = "MQTT over TLS"
	}
	fmt.Fprintf(w, "restic-manager loadgen, %s: %d agents in %d processes from %d source addresses, %s; server %s; fd limit %d\n\n",
		f.Date, f.Agents, f.Procs, f.Addrs, tls, f.Server, f.FDLimit)
	fmt.Fprintf(w, "Identities: %d enrolled in %.1f s, %d reused from the credentials file.\n\n", f.Setup.Enrolled, f.Setup.EnrollSeconds, f.Setup.Reused)
	fmt.Fprintln(w, "| | measured |")
	fmt.Fprintln(w, "|---|---|")
	row := func(name, format string, args ...any) {
		fmt.Fprintf(w, "| %s | %s |\n", name, fmt.Sprintf(format, args...))
	}
	if c := f.Connect; c != nil {
		if c.RSSPerAgentKiB != 0 {
			row("server RSS per connected agent", "%.0f KiB (%.0f → %.0f MiB)", c.RSSPerAgentKiB, c.RSSBeforeMiB, c.RSSAfterMiB)
		}
		if c.ServerFDsPerAgent != 0 || c.LoadgenFDsPerAgent != 0 {
			row("file descriptors per agent", "server %.2f, loadgen %.2f", c.ServerFDsPerAgent, c.LoadgenFDsPerAgent)
		}
		how := "at once"
		if c.SpreadSeconds > 0 {
			how = fmt.Sprintf("spread over %.0f s", c.SpreadSeconds)
		}
		row("initial connect", "%d %s: %s online in %.1f s%s%s%s", c.Agents, how, allOrSome(c.Online, c.Agents), c.AllOnlineSeconds,
			agentsSide(c.AgentsSideSeconds), peakFDs(c.ServerFDsPeak), meanwhile(c.ServerCPUSeconds, c.HostListMaxMs, c.HostPageMaxMs))
	}
	if s := f.Storm; s != nil {
		extra := ""
		if s.StopSeconds > 0 {
			extra = fmt.Sprintf("; the old server took %.1f s to stop", s.StopSeconds)
		}
		if s.APIDownSeconds > 0 {
			extra += fmt.Sprintf("; API answered %.1f s after the restart", s.APIDownSeconds)
		}
		if s.TLSHandshakes > 0 {
			extra += fmt.Sprintf("; %d TLS handshakes, %d resumed", s.TLSHandshakes, s.TLSResumed)
		}
		row("restart storm ("+s.Kind+"), all back online", "%d: %s back in %.1f s, %d left behind%s%s%s%s",
			s.Agents, allOrSome(s.Online, s.Agents), s.AllOnlineSeconds, s.LeftBehind, agentsSide(s.AgentsSideSeconds), extra,
			peakFDs(s.ServerFDsPeak), meanwhile(s.ServerCPUSeconds, s.HostListMaxMs, s.HostPageMaxMs))
	}
	if d := f.Dispatch; d != nil {
		row(fmt.Sprintf("dispatch at %d agents", f.Agents), "%d jobs to %d hosts, %d parallel API clients (%.0f POST/s): POST %s; to the agent %s; to \"delivered\" %s; %d errors",
			d.Jobs, d.Hosts, d.Clients, d.PostsPerSecond, d.POST, d.ToAgent, d.Delivered, d.Errors)
	}
	if g := f.Ingest; g != nil {
		row(fmt.Sprintf("ingest %d jobs × %d lines/s × %.0f s, flush %s", g.Jobs, g.Rate, g.Seconds, g.Flush),
			"%s lines stored, %d lost, %d doubled, %.0f lines/s; server CPU %.0f%% of a core, RSS %.0f MiB; API meanwhile (%d clients × %g requests/s at random moments): POST %s, GET %s, %d errors (%d HTTP 5xx); every outbox acknowledged %.1f s after the jobs ended",
			count(g.Stored), g.Lost, g.Doubled, g.LinesPerSecond, g.ServerCPUPercent, g.ServerRSSMiB, g.APIClients, g.APIRate, g.APIPost, g.APIGet, g.APIErrors, g.API5xx, g.AckWaitSeconds)
	}
	if a := f.API; a != nil {
		dash := "not timed (no admin password)"
		if a.Dashboard != nil {
			dash = fmt.Sprintf("%s (%.0f KiB)", *a.Dashboard, a.DashboardKiB)
		}
		row(fmt.Sprintf("API with %d hosts", a.Hosts), "GET /api/v1/hosts, first page %s (%.0f KiB), every page %s; dashboard %s",
			a.FirstPage, a.FirstPageKiB, a.HostsList, dash)
	}
	if f.RefusedCredentials > 0 {
		fmt.Fprintf(w, "\nThe broker refused %d connection attempts as bad credentials: each agent refused waits %s before its next, as the real agent does, so it is left behind.\n",
			f.RefusedCredentials, simRefusedRetry)
	}
	if f.TLSHandshakes > 0 {
		fmt.Fprintf(w, "\nThe agents made %d TLS handshakes, %d of them resumed a session.\n", f.TLSHandshakes, f.TLSResumed)
	}
	if f.ConnectErrors > 0 {
		fmt.Fprintf(w, "\nThe agents' connection attempts failed %d times; the first: %s\n", f.ConnectErrors, f.FirstConnectError)
	}
	if f.LoadgenCPUSeconds > 0 {
		fmt.Fprintf(w, "\nThe loadgen's own processes used %.1f s of CPU.\n", f.LoadgenCPUSeconds)
	}
	if len(f.Failures) > 0 {
		fmt.Fprintf(w, "\nNot as it should be:\n- %s\n", strings.Join(f.Failures, "\n- "))
	}
}

// String is "p50 a, p99 b, max c ms".
func (l latency) String() string {
	if l.N == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %.1f, p99 %.1f, max %.1f ms", l.P50MS, l.P99MS, l.MaxMS)
}

// agentsSide is " (agents' side N s)", or nothing when not measured.
func agentsSide(seconds float64) string {
	if seconds <= 0 {
		return ""
	}
	return fmt.Sprintf(" (agents' side %.1f s)", seconds)
}

// peakFDs is "; server fds peak N", or nothing when not measured.
func peakFDs(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf("; server fds peak %d", n)
}

// meanwhile is the server's CPU and the slowest host list while agents came.
func meanwhile(cpu, listMs, pageMs float64) string {
	out := ""
	if cpu > 0 {
		out += fmt.Sprintf("; server CPU %.1f s", cpu)
	}
	if listMs > 0 {
		out += fmt.Sprintf("; slowest host list %.0f ms (its slowest page of %d %.0f ms)", listMs, pollPageSize, pageMs)
	}
	return out
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func allOrSome(n, of int) string {
	if n == of {
		return "all"
	}
	return fmt.Sprintf("%d of %d", n, of)
}

func count(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
