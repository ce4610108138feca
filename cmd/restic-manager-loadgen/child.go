package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"time"
)

// The parent and its children talk in JSON lines: the parent writes a
// childSpec and then childCmds on a child's stdin, the child answers
// childEvents on its stdout. Its stderr goes to the parent's.

// childSpec is the first line a child reads: its share of the agents and
// of the source addresses, and how to reach the broker.
type childSpec struct {
	Index          int           `json:"index"`
	Agents         []credHost    `json:"agents"`
	Addrs          []string      `json:"addrs"`
	MQTTURL        string        `json:"mqtt_url"`
	CACert         string        `json:"ca_cert"`
	Heartbeat      time.Duration `json:"heartbeat"`
	BackoffInitial time.Duration `json:"backoff_initial"`
	BackoffMax     time.Duration `json:"backoff_max"`
	ResendAfter    time.Duration `json:"resend_after"`
	LineBytes      int           `json:"line_bytes"`
	Verbose        bool          `json:"verbose"`
}

// childCmd is one command from the parent:
//
//	connect  start every agent, spread over Spread; counts toward Mark
//	mark     count the agents established from now on toward Mark
//	drop     mark, then every agent drops its connection and reconnects
//	ingest   set how ingest jobs write their logs
//	jobs     report the jobs whose end the server stored since last time
//	stats    report connected agents, unacknowledged outbox entries, fds, CPU
//	stop     disconnect every agent cleanly and exit
type childCmd struct {
	Op     string        `json:"op"`
	Spread time.Duration `json:"spread,omitempty"`
	Mark   int           `json:"mark,omitempty"`
	Ingest ingestParams  `json:"ingest,omitzero"`
}

// childEvent is one line a child writes: "ready" once its agents exist,
// "established" when all of them are connected (hello acknowledged) for
// Mark, "jobs", "stats", "ok" answering those commands, "stopped".
type childEvent struct {
	Ev         string      `json:"ev"`
	Child      int         `json:"child"`
	Mark       int         `json:"mark,omitempty"`
	N          int         `json:"n,omitempty"`
	AtNS       int64       `json:"at_ns,omitempty"`
	Jobs       []jobRecord `json:"jobs,omitempty"`
	Connected  int         `json:"connected,omitempty"`
	Pending    int         `json:"pending,omitempty"`
	FDs        int         `json:"fds,omitempty"`
	CPUSeconds float64     `json:"cpu_s,omitempty"`
	// ConnectErrors counts failed connection attempts, FirstError says the
	// first one's reason.
	ConnectErrors int    `json:"connect_errors,omitempty"`
	FirstError    string `json:"first_error,omitempty"`
	// Refused counts CONNECTs refused as bad credentials (simRefusedRetry).
	Refused int `json:"refused,omitempty"`
	// Handshakes counts TLS handshakes, Resumed those that resumed a session.
	Handshakes int64 `json:"tls_handshakes,omitempty"`
	Resumed    int64 `json:"tls_resumed,omitempty"`
}

// runChild is a child process: it runs its agents as the parent says.
func runChild(stdin io.Reader, stdout, stderr io.Writer) error {
	raiseFDLimit()
	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 1<<20), 256<<20)
	if !in.Scan() {
		return errors.New("child: no spec on stdin")
	}
	var spec childSpec
	if err := json.Unmarshal(in.Bytes(), &spec); err != nil {
		return fmt.Errorf("child: spec: %w", err)
	}
	c, err := newChild(spec, stdout, stderr)
	if err != nil {
		return err
	}
	c.emit(childEvent{Ev: "ready", N: len(c.agents)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for in.Scan() {
		var cmd childCmd
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			return fmt.Errorf("child: command: %w", err)
		}
		if cmd.Op == "stop" {
			break
		}
		c.do(ctx, cmd)
	}
	cancel() // stop, or the parent went away
	c.wg.Wait()
	c.emit(childEvent{Ev: "stopped"})
	return nil
}

type child struct {
	spec   childSpec
	fleet  *simFleet
	agents []*simAgent
	wg     sync.WaitGroup

	outMu sync.Mutex
	out   *json.Encoder

	markMu sync.Mutex
	mark   int
	count  int
	last   map[*simAgent]int
}

func newChild(spec childSpec, stdout, stderr io.Writer) (*child, error) {
	broker, err := url.Parse(spec.MQTTURL)
	if err != nil {
		return nil, fmt.Errorf("child: broker URL: %w", err)
	}
	c := &child{spec: spec, out: json.NewEncoder(stdout), last: map[*simAgent]int{}}
	var logMu sync.Mutex
	c.fleet = &simFleet{broker: broker, heartbeat: spec.Heartbeat, backoffInitial: spec.BackoffInitial,
		backoffMax: spec.BackoffMax, resendAfter: spec.ResendAfter, lineBytes: spec.LineBytes,
		records: &jobRecords{}, established: c.established}
	if spec.Verbose {
		c.fleet.logf = func(format string, args ...any) {
			logMu.Lock()
			fmt.Fprintf(stderr, "loadgen child %d: "+format+"\n", append([]any{spec.Index}, args...)...)
			logMu.Unlock()
		}
	}
	if broker.Scheme == "mqtts" || broker.Scheme == "ssl" || broker.Scheme == "tls" {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(spec.CACert)) {
			return nil, errors.New("child: no CA certificate to trust the broker with")
		}
		// Each agent adds its own session cache (sim_agent.go dialer).
		c.fleet.tls = &tls.Config{RootCAs: roots, ServerName: broker.Hostname(), MinVersion: tls.VersionTLS12}
	}
	for i, h := range spec.Agents {
		var local *net.TCPAddr
		if len(spec.Addrs) > 0 {
			local = &net.TCPAddr{IP: net.ParseIP(spec.Addrs[i%len(spec.Addrs)])}
		}
		c.agents = append(c.agents, newSimAgent(c.fleet, h.ID, h.Password, local))
	}
	return c, nil
}

func (c *child) emit(ev childEvent) {
	ev.Child = c.spec.Index
	c.outMu.Lock()
	defer c.outMu.Unlock()
	_ = c.out.Encode(ev)
}

func (c *child) do(ctx context.Context, cmd childCmd) {
	switch cmd.Op {
	case "connect":
		c.setMark(cmd.Mark)
		n := len(c.agents)
		for i, a := range c.agents {
			c.wg.Add(1)
			delay := time.Duration(0)
			if n > 1 {
				delay = cmd.Spread * time.Duration(i) / time.Duration(n)
			}
			go func() {
				defer c.wg.Done()
				select {
				case <-ctx.Done():
					return
				case <-time.After(delay):
				}
				a.run(ctx)
			}()
		}
	case "mark":
		c.setMark(cmd.Mark)
	case "drop":
		c.setMark(cmd.Mark)
		for _, a := range c.agents {
			a.dropNow()
		}
	case "ingest":
		c.fleet.ingestMu.Lock()
		c.fleet.ingest = cmd.Ingest
		c.fleet.ingestMu.Unlock()
		c.emit(childEvent{Ev: "ok"})
	case "jobs":
		c.emit(childEvent{Ev: "jobs", Jobs: c.fleet.records.take()})
	case "stats":
		ev := childEvent{Ev: "stats", FDs: countFDs(os.Getpid()), CPUSeconds: cpuSeconds(os.Getpid())}
		c.fleet.errMu.Lock()
		ev.ConnectErrors, ev.FirstError, ev.Refused = c.fleet.connectErrs, c.fleet.firstConnErr, c.fleet.refused
		c.fleet.errMu.Unlock()
		ev.Handshakes, ev.Resumed = c.fleet.handshakes.Load(), c.fleet.resumed.Load()
		for _, a := range c.agents {
			if a.currentClient() != nil {
				ev.Connected++
			}
			ev.Pending += a.out.pending()
		}
		c.emit(ev)
	}
}

// setMark starts counting established agents toward mark.
func (c *child) setMark(mark int) {
	c.markMu.Lock()
	c.mark, c.count = mark, 0
	c.markMu.Unlock()
}

// established counts an agent's first established connection since the
// mark and says so when all of this child's agents have one.
func (c *child) established(a *simAgent) {
	c.markMu.Lock()
	defer c.markMu.Unlock()
	if c.last[a] >= c.mark {
		return
	}
	c.last[a] = c.mark
	c.count++
	if c.count == len(c.agents) {
		c.emit(childEvent{Ev: "established", Mark: c.mark, N: c.count, AtNS: time.Now().UnixNano()})
	}
}
