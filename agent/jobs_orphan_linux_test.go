package agent_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// The agent alone is killed with SIGKILL while restic runs (the OOM
// killer picks the agent, not its restic): the kernel kills restic too
// (Pdeathsig, see agent/restic/child_linux.go) instead of leaving it
// running unsupervised. The job is a check reading the data at 128 KiB/s,
// during which restic prints nothing: a restic that prints dies of
// SIGPIPE anyway once its agent is gone, so a backup would prove nothing.
func TestKilledAgentLeavesNoResticRunning(t *testing.T) {
	e := newJobEnv(t)
	child := e.startChild()
	e.configure()
	e.srv.waitTerminal(e.srv.run(backupSpec(newSource(t, 8, 8<<20)), 1))
	check := topics.JobSpec{Kind: topics.JobCheck, ReadDataSubset: "100%", BandwidthDownKBps: 128}
	e.srv.waitState(e.srv.run(check, 1), topics.JobRunning)
	var pid int
	e.srv.waitUntil("restic check running", func() bool {
		pid = childRunning(child.cmd.Process.Pid, "check")
		return pid != 0
	})
	child.kill(false)
	// restic's check needs about a minute for 8 MiB at 128 KiB/s; killed,
	// it is gone at once.
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("restic (pid %d) still runs after its agent was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// childRunning returns the pid of a child of ppid whose second argument
// is subcommand (restic's), or 0.
func childRunning(ppid int, subcommand string) int {
	entries, _ := os.ReadDir("/proc")
	for _, en := range entries {
		pid, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		if parent, _, ok := procStat(pid); !ok || parent != ppid {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", en.Name(), "cmdline"))
		if args := strings.Split(string(cmdline), "\x00"); len(args) > 1 && args[1] == subcommand {
			return pid
		}
	}
	return 0
}

// processAlive reports whether pid exists and is not a zombie (a killed
// process whose parent died lingers as one until init reaps it).
func processAlive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != "Z" && state != "X"
}

// procStat reads a process's parent pid and state from /proc/<pid>/stat
// ("pid (comm) state ppid ...").
func procStat(pid int) (ppid int, state string, ok bool) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, "", false
	}
	s := string(data)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, "", false
	}
	rest := strings.Fields(s[end+1:])
	if len(rest) < 2 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(rest[1])
	return ppid, rest[0], err == nil
}
