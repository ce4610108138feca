// Command restic-manager-loadgen puts a restic-manager server under the
// load of a fleet: N simulated agents speaking the real protocol (HTTP
// enrollment, MQTT over TLS with the enrolled credentials, hello, status
// heartbeats, jobs answered with events, log streams and snapshot reports,
// store-first acks), spread over several processes and several loopback
// source addresses, while API clients use the server as people and
// scripts do. It prints the figures of issue #15's table.
//
//	restic-manager-loadgen --spawn --agents 1000 --procs 4 [--scenario all]
//	restic-manager-loadgen --server http://127.0.0.1:8080 --token $TOKEN --agents 200
//
// It is a client of the server, like an agent or a script: it imports the
// wire contract (topics), paho and the agent's TLS session cache
// (agent/tlssession, so a reconnecting fleet resumes as agents do), never
// the agent's or the server's other packages, so what it measures is what a
// real fleet would meet. It runs
// no restic: a simulated agent answers a job with what an agent would
// send. docs/scale.md explains the scenarios and has measured figures.
//
// The parent process runs the scenarios; with --procs P it starts this
// binary P times again ("child"), each with its share of the agents and
// of the source addresses, and they talk in JSON lines over stdin and
// stdout (child.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `restic-manager-loadgen runs simulated agents and API clients against a restic-manager server
and prints what it measured (docs/scale.md).

Usage:
  restic-manager-loadgen --spawn [--data DIR] [flags]         start the server binary for the run
  restic-manager-loadgen --server URL --token TOKEN [flags]   use a running server

Scenarios (--scenario, comma-separated; all runs every one, the storm last):
  connect   every agent connects (at once, or over --spread): time until the server lists all
            online, server RSS and file descriptors per agent (connect always runs first)
  api       GET /api/v1/hosts and the dashboard, timed with every agent online
  dispatch  --api-clients clients POST --dispatch-jobs jobs to random hosts: POST latency, time
            until the agent has the command and until the server stored "delivered"
  ingest    --ingest-jobs jobs each log --ingest-rate lines/s for --ingest-duration while
            --api-clients clients each send --api-rate requests/s: lines/s stored, lost and
            doubled lines, API latency meanwhile, then the wait until every outbox is acked
  storm     all agents reconnect at once (--storm restart: the spawned server restarts; drop:
            the agents drop their connections): time until all are back online

Flags:
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		if err := runChild(os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		return
	}
	o, err := parseOptions(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		stop()
		os.Exit(1)
	}
}
