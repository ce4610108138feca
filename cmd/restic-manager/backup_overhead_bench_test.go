//go:build linux

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
)

// BenchmarkBackupOverhead backs up a generated data set (by default 1 GiB
// in 10,240 files) through the whole product — API → server → MQTT →
// agent → restic → outbox → server — and with `restic backup --json` run
// directly, in interleaved rounds (alternating which goes first). Both
// sides back up into a fresh local repository (its init not timed) with
// the same restic cache directory, so neither has a warmer cache, and
// both read restic's output through pipes.
//
// Nothing else runs while a side is timed: the agent's snapshot listing
// after its backup is waited for before the next side starts, the server's
// daily stats job is run once before the rounds (so its sweep queues none
// during them), and the job is not polled while restic runs — the agent's
// log says when restic ended, and only then is the API polled for the
// job's end.
//
// It reports the end-to-end ratio (agent/direct, target ≤ 1.02) and its
// median round, and restic's own wall and CPU time (its rusage) under the
// agent against direct, so a difference in restic itself is told apart
// from the product's dispatch and reporting; and the CPU the server and
// this process (the agent, the API client) spent per backup.
//
// RM_BENCH_DATA_MIB and RM_BENCH_FILES size the data set; RM_BENCH_ROUNDS
// sets the rounds per iteration (3). RM_BENCH_POLL (e.g. 20ms) polls the
// job through the API at that interval while restic runs, as this
// benchmark did before #15, to show what that costs restic.
func BenchmarkBackupOverhead(b *testing.B) {
	restic := agenttest.RequireBinary(b, "restic")
	mib, files, rounds := benchEnvInt("RM_BENCH_DATA_MIB", 1024), benchEnvInt("RM_BENCH_FILES", 10240), benchEnvInt("RM_BENCH_ROUNDS", 3)
	poll, _ := time.ParseDuration(os.Getenv("RM_BENCH_POLL"))
	runs := resticRuns{ch: make(chan resticRun, 256)}
	dir := b.TempDir()
	cache := "RESTIC_CACHE_DIR=" + filepath.Join(dir, "restic-cache")
	e := newBenchEnvWith(b, restic, slog.New(runs), agent.WithResticEnv(cache))
	data := makeData(b, filepath.Join(dir, "dataset"), files, mib<<20/files)
	// Warm the page cache so neither side pays for the first read.
	_ = exec.Command("find", data, "-type", "f", "-exec", "cat", "{}", "+").Run()
	const password = "bench repository password"

	// The server queues a stats job once a day per host, first ten
	// minutes after it starts; one run now means none during the rounds.
	e.setRepository(filepath.Join(dir, "repo-stats"), password)
	if j := e.wait(e.run(map[string]any{"kind": "stats"}), 5*time.Minute, 50*time.Millisecond); j.Status != "succeeded" {
		b.Fatalf("stats job: %+v", j)
	}

	var sum struct{ agent, direct, resticAgent, resticDirect, cpuAgent, cpuDirect, serverCPU, selfCPU float64 }
	var ratios []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := range rounds {
			var a, d backupTiming
			for side := range 2 {
				if (side == 0) == (r%2 == 0) {
					a = e.agentBackup(runs, filepath.Join(dir, fmt.Sprintf("repo-agent-%d-%d", i, r)), password, data, poll)
				} else {
					d = directBackup(b, restic, filepath.Join(dir, fmt.Sprintf("repo-direct-%d-%d", i, r)), password, data, cache)
				}
			}
			ratio := a.wall.Seconds() / d.wall.Seconds()
			ratios = append(ratios, ratio)
			b.Logf("round %d: agent %s (restic %s, CPU %s), direct %s (CPU %s), ratio %.3f; server CPU %.2f s, agent process %.2f s",
				len(ratios), ms(a.wall), ms(a.restic), ms(a.cpu), ms(d.wall), ms(d.cpu), ratio, a.serverCPU, a.selfCPU)
			sum.agent += a.wall.Seconds()
			sum.direct += d.wall.Seconds()
			sum.resticAgent += a.restic.Seconds()
			sum.resticDirect += d.restic.Seconds()
			sum.cpuAgent += a.cpu.Seconds()
			sum.cpuDirect += d.cpu.Seconds()
			sum.serverCPU += a.serverCPU
			sum.selfCPU += a.selfCPU
		}
	}
	b.StopTimer()
	n := float64(len(ratios))
	slices.Sort(ratios)
	ratio := sum.agent / sum.direct
	b.ReportMetric(ratio, "agent/direct")
	b.ReportMetric(ratios[len(ratios)/2], "median-round")
	b.ReportMetric(sum.resticAgent/sum.resticDirect, "restic-wall-agent/direct")
	b.ReportMetric(sum.cpuAgent/sum.cpuDirect, "restic-cpu-agent/direct")
	b.ReportMetric(sum.agent/n, "s/backup-agent")
	b.ReportMetric(sum.direct/n, "s/backup-direct")
	b.ReportMetric(sum.serverCPU/n, "server-cpu-s/backup")
	b.ReportMetric(sum.selfCPU/n, "agent-proc-cpu-s/backup")
	b.Logf("%d MiB in %d files, %d rounds: through the agent %.2f s, restic directly %.2f s, ratio %.3f (median round %.3f; target ≤ 1.02); "+
		"restic itself: wall %.2f s vs %.2f s, CPU %.2f s vs %.2f s",
		mib, files, len(ratios), sum.agent, sum.direct, ratio, ratios[len(ratios)/2],
		sum.resticAgent, sum.resticDirect, sum.cpuAgent, sum.cpuDirect)
}

// backupTiming is one side of a round.
type backupTiming struct {
	wall      time.Duration // end to end
	restic    time.Duration // restic's own wall time
	cpu       time.Duration // restic's user+system CPU time
	serverCPU float64       // seconds of the server process meanwhile
	selfCPU   float64       // seconds of this process (agent, API client) meanwhile
}

// agentBackup gives the agent a fresh repository (its init job not timed)
// and times a backup job from the API request until the server has its
// end; poll > 0 polls the job at that interval all along instead of only
// once restic has ended. It returns once the agent is idle again.
func (e *benchEnv) agentBackup(runs resticRuns, repo, password, data string, poll time.Duration) backupTiming {
	e.b.Helper()
	e.setRepository(repo, password)
	srv0, self0 := cpuSeconds(e.srv.cmd.Process.Pid), selfCPU(e.b)
	start := time.Now()
	id := e.run(map[string]any{"kind": "backup", "paths": []string{data}})
	var run resticRun
	var j jobJSON
	if poll > 0 {
		j = e.wait(id, 30*time.Minute, poll)
		run = runs.wait(e.b, "backup")
	} else {
		run = runs.wait(e.b, "backup")
		j = e.wait(id, time.Minute, 5*time.Millisecond)
	}
	t := backupTiming{wall: time.Since(start), restic: run.wall, cpu: run.user + run.sys,
		serverCPU: cpuSeconds(e.srv.cmd.Process.Pid) - srv0, selfCPU: selfCPU(e.b) - self0}
	if j.Status != "succeeded" {
		e.b.Fatalf("backup through the agent: %+v", j)
	}
	runs.wait(e.b, "snapshots") // the list the agent sends after a backup
	return t
}

// directBackup initialises repo (not timed) and times `restic backup
// --json`, its output read as the agent does (agenttest.DirectBackup).
func directBackup(b *testing.B, restic, repo, password, data, cache string) backupTiming {
	b.Helper()
	env := append(os.Environ(), cache, "RESTIC_REPOSITORY="+repo, "RESTIC_PASSWORD="+password)
	initCmd := exec.Command(restic, "init")
	initCmd.Env = env
	if out, err := initCmd.CombinedOutput(); err != nil {
		b.Fatalf("restic init: %v\n%s", err, out)
	}
	wall, cpu := agenttest.DirectBackup(b, restic, env, data)
	return backupTiming{wall: wall, restic: wall, cpu: cpu}
}

// resticRun is one restic run of the bench agent, as its runner logged it.
type resticRun struct {
	kind            string
	wall, user, sys time.Duration
}

// resticRuns is the bench agent's slog.Handler: it passes each "restic
// finished" record on and drops the rest.
type resticRuns struct{ ch chan resticRun }

func (h resticRuns) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h resticRuns) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h resticRuns) WithGroup(string) slog.Handler                { return h }

func (h resticRuns) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "restic finished" {
		return nil
	}
	var run resticRun
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "kind":
			run.kind = a.Value.String()
		case "duration":
			run.wall = a.Value.Duration()
		case "cpu_user":
			run.user = a.Value.Duration()
		case "cpu_sys":
			run.sys = a.Value.Duration()
		}
		return true
	})
	select {
	case h.ch <- run:
	default: // the bench waits for it and fails when it never comes
	}
	return nil
}

// wait returns the next restic run of kind, skipping the others (the
// init of a repository).
func (h resticRuns) wait(b *testing.B, kind string) resticRun {
	b.Helper()
	timeout := time.After(30 * time.Minute)
	for {
		select {
		case run := <-h.ch:
			if run.kind == kind {
				return run
			}
		case <-timeout:
			b.Fatalf("the agent ran no restic %s", kind)
		}
	}
}

// selfCPU is this process's user+system CPU time, in seconds.
func selfCPU(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func benchEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
