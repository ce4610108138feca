//go:build unix

package main

import (
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestServeRaisesOpenFileLimit: started with a soft open-file limit of 512
// (a shell's ulimit -Sn), serve runs with its hard limit and says so in its
// log once it serves — each agent needs a descriptor (docs/scale.md).
func TestServeRaisesOpenFileLimit(t *testing.T) {
	t.Parallel()
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	if l.Max <= 512 {
		t.Fatalf("this machine's hard open-file limit is %d: the test needs one above 512 to see a raise", l.Max)
	}
	data := t.TempDir()
	srv := startProc(t, []string{}, "sh", "-c", `ulimit -Sn 512 && exec "$0" "$@"`, buildServer(t),
		"serve", "--data", data, "--http", "127.0.0.1:0", "--https", "",
		"--mqtt", "127.0.0.1:0", "--mqtts", "", "--agents-dir", "")
	waitFor(t, "the server to serve", 30*time.Second, func() bool {
		return servingRE.MatchString(srv.logs.String()) || srv.exited()
	})
	logs := srv.logs.String()
	m := regexp.MustCompile(`msg="open-file limit[^"]*" soft=(\d+) hard=(\d+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("serve did not log the open-file limit it runs with:\n%s", logs)
	}
	if want := strconv.FormatUint(l.Max, 10); m[1] != want || m[2] != want {
		t.Errorf("serve runs with soft=%s hard=%s; want both raised to the hard limit %s:\n%s", m[1], m[2], want, logs)
	}
}
