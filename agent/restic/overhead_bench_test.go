package restic

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/topics"
)

// BenchmarkRunnerBackup is the run path alone, without server or agent:
// `restic backup` through Runner.Run (its environment, arguments, pipes,
// output decoding, process group and parent-death signal) against the same
// restic started directly with `backup --json`, its output read through
// pipes, in interleaved rounds. Each run backs up into a fresh copy of one
// empty repository with a cache directory of its own, so both start cold.
// It reports restic's wall and CPU time (its rusage) under the runner
// against direct.
//
// RM_BENCH_DATA_MIB (256) and RM_BENCH_FILES (3072) size the data set,
// RM_BENCH_ROUNDS (3) the rounds per iteration.
func BenchmarkRunnerBackup(b *testing.B) {
	mib, files, rounds := benchInt("RM_BENCH_DATA_MIB", 256), benchInt("RM_BENCH_FILES", 3072), benchInt("RM_BENCH_ROUNDS", 3)
	r, _ := newRunner(b)
	r.Logger = nil
	base := r.Env
	data := filepath.Join(b.TempDir(), "data")
	genTree(b, data, files, 2*(mib<<20)/files)
	var wall, cpu [2]time.Duration // [runner, direct]
	for b.Loop() {
		for round := range rounds {
			for k := range 2 {
				side := (k + round) % 2
				repo := initRepo(b, r)
				env := append(base[:len(base):len(base)], "RESTIC_CACHE_DIR="+b.TempDir())
				var w, c time.Duration
				if side == 0 {
					rr := *r
					rr.Env = env
					res, err := rr.Run(context.Background(), Op{Kind: topics.JobBackup, Repository: repo,
						Backup: BackupOptions{Paths: []string{data}}, OnLine: func(Stream, string) {}, OnProgress: func(Progress) {}})
					if err != nil || res.Outcome != OutcomeSucceeded {
						b.Fatalf("backup through the runner: %v %+v", err, res)
					}
					w, c = res.Duration, res.UserTime+res.SystemTime
				} else {
					w, c = agenttest.DirectBackup(b, r.Binary, append(env, "RESTIC_REPOSITORY="+repo.URL, "RESTIC_PASSWORD="+repo.Password), data)
				}
				wall[side] += w
				cpu[side] += c
				b.Logf("round %d, %s: wall %s, CPU %s", round+1, []string{"runner", "direct"}[side], w.Round(time.Millisecond), c.Round(time.Millisecond))
			}
		}
	}
	b.ReportMetric(wall[0].Seconds()/wall[1].Seconds(), "wall-runner/direct")
	b.ReportMetric(cpu[0].Seconds()/cpu[1].Seconds(), "cpu-runner/direct")
	b.ReportMetric(cpu[1].Seconds()/float64(rounds*b.N), "restic-cpu-s/backup")
}

func benchInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
