// Command testreport reads `go test -json` on stdin and prints what a person
// wants from a test run: one line per package (ok, FAIL, no test files), the
// whole output of every test that failed or was skipped under
// RM_TEST_DISALLOW_SKIP, build errors, and at the end the slowest tests and
// packages. It exits 1 when any test or package failed, or when the stream
// ends in the middle of a package (a crashed or killed `go test`). Run it
// under `set -o pipefail` so that go test's own exit status counts too.
//
// Usage: go test -json ./... | go run .ci/testreport/main.go [-top N]
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// event is one line of test2json output (go doc test2json).
type event struct {
	Time        time.Time
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	ImportPath  string
	FailedBuild string
}

type timing struct {
	name    string
	elapsed float64
}

type report struct {
	out      io.Writer
	top      int
	buffers  map[string]*strings.Builder // package + "\x00" + test -> output so far
	started  map[string]bool             // packages that started and have not ended
	tests    []timing
	packages []timing
	failed   []string
	skipped  int
}

func newReport(out io.Writer, top int) *report {
	return &report{out: out, top: top, buffers: map[string]*strings.Builder{}, started: map[string]bool{}}
}

func (r *report) buffer(key string) *strings.Builder {
	b := r.buffers[key]
	if b == nil {
		b = &strings.Builder{}
		r.buffers[key] = b
	}
	return b
}

// take returns and forgets the output kept for key.
func (r *report) take(key string) string {
	b := r.buffers[key]
	delete(r.buffers, key)
	if b == nil {
		return ""
	}
	return b.String()
}

func (r *report) handle(e event) {
	if e.Action == "build-output" {
		fmt.Fprint(r.out, e.Output)
		return
	}
	if e.Action == "build-fail" {
		r.failed = append(r.failed, e.ImportPath+" (build)")
		return
	}
	key := e.Package + "\x00" + e.Test
	switch e.Action {
	case "start":
		r.started[e.Package] = true
	case "output":
		r.buffer(key).WriteString(e.Output)
	case "pass":
		out := r.take(key)
		if e.Test == "" {
			delete(r.started, e.Package)
			r.packages = append(r.packages, timing{e.Package, e.Elapsed})
			fmt.Fprintf(r.out, "ok  \t%s\t%.1fs\n", e.Package, e.Elapsed)
			return
		}
		if !strings.Contains(e.Test, "/") {
			r.tests = append(r.tests, timing{e.Package + " " + e.Test, e.Elapsed})
		}
		_ = out
	case "skip":
		out := r.take(key)
		if e.Test == "" {
			delete(r.started, e.Package)
			fmt.Fprintf(r.out, "?   \t%s\t[no test files]\n", e.Package)
			return
		}
		r.skipped++
		if os.Getenv("RM_TEST_DISALLOW_SKIP") != "" {
			fmt.Fprintf(r.out, "--- SKIP: %s %s\n%s", e.Package, e.Test, out)
		}
	case "fail":
		out := r.take(key)
		if e.Test == "" {
			delete(r.started, e.Package)
			r.packages = append(r.packages, timing{e.Package, e.Elapsed})
			// Tests still running when the package failed (a timeout, a
			// panic elsewhere) never get their own result: their output
			// is the clue, so print it.
			r.flushPackage(e.Package)
			// Output at package level (a panic, a timeout, TestMain) is
			// only kept when the package failed; it ends in go test's
			// own FAIL line.
			fmt.Fprint(r.out, out)
			if out == "" {
				fmt.Fprintf(r.out, "FAIL\t%s\t%.1fs\n", e.Package, e.Elapsed)
			}
			r.failed = append(r.failed, e.Package)
			return
		}
		if !strings.Contains(e.Test, "/") {
			r.tests = append(r.tests, timing{e.Package + " " + e.Test, e.Elapsed})
			r.failed = append(r.failed, e.Package+" "+e.Test)
		}
		fmt.Fprintf(r.out, "--- FAIL: %s %s (%.1fs)\n%s", e.Package, e.Test, e.Elapsed, out)
	}
}

// flushPackage prints and forgets the output of pkg's tests that have not
// ended.
func (r *report) flushPackage(pkg string) {
	var keys []string
	for k := range r.buffers {
		if p, test, _ := strings.Cut(k, "\x00"); p == pkg && test != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		_, test, _ := strings.Cut(k, "\x00")
		fmt.Fprintf(r.out, "--- NO RESULT: %s %s\n%s", pkg, test, r.take(k))
	}
}

func slowest(ts []timing, n int) []timing {
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].elapsed > ts[j].elapsed })
	if len(ts) > n {
		ts = ts[:n]
	}
	return ts
}

// finish prints the summary and says whether the run passed.
func (r *report) finish() bool {
	for pkg := range r.started {
		// The stream ended inside a package: go test was killed or crashed.
		r.flushPackage(pkg)
		fmt.Fprint(r.out, r.take(pkg+"\x00"))
		fmt.Fprintf(r.out, "FAIL\t%s\t(no result: the test binary ended without one)\n", pkg)
		r.failed = append(r.failed, pkg)
	}
	fmt.Fprintf(r.out, "\n%d slowest tests:\n", r.top)
	for _, t := range slowest(r.tests, r.top) {
		fmt.Fprintf(r.out, "  %7.1fs  %s\n", t.elapsed, t.name)
	}
	fmt.Fprintf(r.out, "slowest packages:\n")
	for _, t := range slowest(r.packages, 5) {
		fmt.Fprintf(r.out, "  %7.1fs  %s\n", t.elapsed, t.name)
	}
	if len(r.failed) > 0 {
		sort.Strings(r.failed)
		fmt.Fprintf(r.out, "\nFAILED (%d):\n  %s\n", len(r.failed), strings.Join(r.failed, "\n  "))
		return false
	}
	fmt.Fprintf(r.out, "\nall tests passed (%d tests, %d skipped)\n", len(r.tests), r.skipped)
	return true
}

func main() {
	top := flag.Int("top", 10, "how many of the slowest tests to print")
	flag.Parse()
	r := newReport(os.Stdout, *top)
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// Not test2json: the go command's own messages (a build
			// error before any test ran, say). Print it as it is.
			// go test's own exit status decides whether that failed.
			fmt.Fprintf(r.out, "%s\n", line)
			continue
		}
		r.handle(e)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "testreport: reading the test output failed: %v\n", err)
		os.Exit(1)
	}
	if !r.finish() {
		os.Exit(1)
	}
}
