package main

import "testing"

// The memory the server may use is read from /proc and the cgroup files;
// whatever is absent, "max" or malformed counts as no limit (0).
func TestGCMemoryLimitReadsProcAndCgroup(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint64{
		"MemTotal:       24684408 kB\nMemFree:        20270212 kB\n": 24684408 << 10,
		"MemFree:        20270212 kB\nMemTotal:  1024 kB\n":          1 << 20,
		"MemTotal: 12 MB\n":   0,
		"MemTotal: lots kB\n": 0,
		"":                    0,
	} {
		if got := memTotal(in); got != want {
			t.Errorf("memTotal(%q) = %d, want %d", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"0::/system.slice/restic-manager.service\n":              "/system.slice/restic-manager.service",
		"12:memory:/docker/abc\n0::/\n":                          "",
		"12:memory:/x\n":                                         "",
		"0::/../../etc\n":                                        "/etc", // cleaned within /sys/fs/cgroup
		"1:name=systemd:/user.slice\n0::/user.slice/session-1\n": "/user.slice/session-1",
	} {
		if got := cgroupV2Path(in); got != want {
			t.Errorf("cgroupV2Path(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]uint64{
		"536870912\n":           512 << 20,
		"max\n":                 0,
		"9223372036854771712\n": 0, // v1's "no limit"
		"-1\n":                  0,
		"":                      0,
	} {
		if got := cgroupLimit(in); got != want {
			t.Errorf("cgroupLimit(%q) = %d, want %d", in, got, want)
		}
	}
	// This machine: whatever it reads is plausible (a positive amount, or
	// none known).
	if m := gcMemoryLimit(); m != 0 && m < 16<<20 {
		t.Errorf("gcMemoryLimit() = %d bytes: implausibly small", m)
	}
}
