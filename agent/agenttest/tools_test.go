package agenttest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// endRecorder is a testing.TB that records how a helper ended the test: the
// real one cannot be asked whether a test it ran was skipped or failed.
type endRecorder struct {
	testing.TB
	skipped, failed string
}

func (r *endRecorder) Helper() {}

func (r *endRecorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *endRecorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f as a test body would be run: Skip and Fatalf stop it.
func (r *endRecorder) run(f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
}

// TestRequireBinaryOneRule: a missing tool skips the test unless
// RM_TEST_DISALLOW_SKIP is exactly 1, which fails it; alternatives are tried
// in order; a found tool is returned.
func TestRequireBinaryOneRule(t *testing.T) {
	const missing = "rm-no-such-tool-d41d8cd9"
	for _, tc := range []struct {
		env      string
		wantFail bool
	}{
		{"", false}, {"1", true}, {"0", false}, {"yes", false},
	} {
		t.Run("env="+tc.env, func(t *testing.T) {
			t.Setenv(DisallowSkipEnv, tc.env)
			r := &endRecorder{TB: t}
			r.run(func(tb testing.TB) { RequireBinary(tb, missing) })
			switch {
			case tc.wantFail && (r.failed == "" || r.skipped != ""):
				t.Errorf("%s=%q: want a failure, got skipped %q, failed %q", DisallowSkipEnv, tc.env, r.skipped, r.failed)
			case !tc.wantFail && (r.skipped == "" || r.failed != ""):
				t.Errorf("%s=%q: want a skip, got skipped %q, failed %q", DisallowSkipEnv, tc.env, r.skipped, r.failed)
			}
			if !strings.Contains(r.skipped+r.failed, missing) {
				t.Errorf("the message does not name the tool: %q", r.skipped+r.failed)
			}
		})
	}

	t.Run("alternatives", func(t *testing.T) {
		t.Setenv(DisallowSkipEnv, "1")
		r := &endRecorder{TB: t}
		var got string
		r.run(func(tb testing.TB) { got = RequireBinary(tb, missing, "sh") })
		if got == "" || !strings.HasSuffix(got, "sh") || r.failed != "" || r.skipped != "" {
			t.Errorf("RequireBinary(missing, sh) = %q (skipped %q, failed %q), want the path of sh", got, r.skipped, r.failed)
		}
	})

	t.Run("unavailable", func(t *testing.T) {
		t.Setenv(DisallowSkipEnv, "1")
		r := &endRecorder{TB: t}
		r.run(func(tb testing.TB) { Unavailable(tb, "needs %s", "root") })
		if !strings.Contains(r.failed, "needs root") || !strings.Contains(r.failed, DisallowSkipEnv) {
			t.Errorf("Unavailable with %s=1 failed with %q, want the reason and the switch", DisallowSkipEnv, r.failed)
		}
	})
}
