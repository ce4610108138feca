package main

import (
	"os"
	"path"
	"strconv"
	"strings"
)

// gcMemoryLimit is the memory this server may use, in bytes: the least of
// the machine's (/proc/meminfo's MemTotal) and its cgroup's limit (v2
// memory.max of the cgroup /proc/self/cgroup names, else of the namespace's
// root; v1 memory.limit_in_bytes); 0 when none can be read.
func gcMemoryLimit() uint64 {
	limit := uint64(0)
	least := func(n uint64) {
		if n > 0 && (limit == 0 || n < limit) {
			limit = n
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		least(memTotal(string(b)))
	}
	dirs := []string{"/sys/fs/cgroup"}
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		if p := cgroupV2Path(string(b)); p != "" {
			dirs = append([]string{path.Join("/sys/fs/cgroup", p)}, dirs...)
		}
	}
	for _, d := range dirs {
		if b, err := os.ReadFile(path.Join(d, "memory.max")); err == nil {
			least(cgroupLimit(string(b)))
			break
		}
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err == nil {
		least(cgroupLimit(string(b)))
	}
	return limit
}

// memTotal reads MemTotal (in kB) from /proc/meminfo's text, in bytes; 0
// when absent or malformed.
func memTotal(meminfo string) uint64 {
	for line := range strings.Lines(meminfo) {
		rest, ok := strings.CutPrefix(line, "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil || kb > 1<<44 {
			return 0
		}
		return kb << 10
	}
	return 0
}

// cgroupV2Path is the unified hierarchy's path ("0::/system.slice/x") in
// /proc/self/cgroup's text; "" when there is none or it is "/".
func cgroupV2Path(selfCgroup string) string {
	for line := range strings.Lines(selfCgroup) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			if p = path.Clean("/" + p); p != "/" && !strings.Contains(p, "..") {
				return p
			}
		}
	}
	return ""
}

// cgroupLimit reads a cgroup memory limit file's text: a byte count, "max"
// (v2) or a page-rounded huge number (v1) for none; 0 for none or
// malformed.
func cgroupLimit(s string) uint64 {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseUint(s, 10, 64)
	if s == "max" || err != nil || n >= 1<<60 {
		return 0
	}
	return n
}
