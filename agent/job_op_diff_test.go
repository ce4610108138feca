package agent

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// The #12 values: what restic 0.18.1 accepts and refuses for the two
// arguments a spec carries as text. topics' rule must accept the first and
// refuse the second; TestSpecValuesMatchRestic asks restic itself.
var (
	withinAccepted = []string{"7d1y", "1y2m3d4h", "12h", "0y1h"}
	withinRefused  = []string{"0d", "1d0d", "-1d", "1w", "7", "7 d"}
	subsetAccepted = []string{"1/5", "5/5", "1/256", "2.5%", "100%", "500M", "1b"}
	subsetRefused  = []string{"0/5", "5/3", "0", "500", "1/257", "0%", "100.5%", "0M"}
)

func withinSpec(v string) topics.JobSpec {
	return topics.JobSpec{Kind: topics.JobForget, Retention: &topics.Retention{Within: v}, DryRun: true}
}

func subsetSpec(v string) topics.JobSpec {
	return topics.JobSpec{Kind: topics.JobCheck, ReadDataSubset: v}
}

// FuzzSpecAgreement: every spec topics accepts, the agent's operation
// builder accepts too once its host-only parts hold on this host (paths
// absolute on this OS, an existing restore target and exclude files); every
// spec topics refuses, the builder refuses.
func FuzzSpecAgreement(f *testing.F) {
	seed := []topics.JobSpec{
		{Kind: topics.JobBackup, Paths: []string{"/home", `C:\Users`}, Excludes: []string{"*.tmp"}, Tags: []string{"rm-group:sg_1"}, ExcludeFiles: []string{"/etc/ex"}},
		{Kind: topics.JobForget, Retention: &topics.Retention{Last: 3, Tags: []string{"keep"}}, Prune: true, FilterTags: []string{"a"}},
		{Kind: topics.JobRestore, Snapshot: "latest", Target: "/restore", Include: []string{"/etc"}},
		{Kind: topics.JobPrune, BandwidthUpKBps: 10},
		// Wrong only in what the Op does not carry.
		{Kind: topics.JobBackup, Paths: []string{"/home"}, SourceGroup: "not a group id"},
		{Kind: topics.JobBackup, Paths: []string{"/home"}, SourceGroup: "sg_1", ForgetAfter: &topics.Retention{Within: "0d"}},
	}
	for _, v := range append(withinAccepted, withinRefused...) {
		seed = append(seed, withinSpec(v))
	}
	for _, v := range append(subsetAccepted, subsetRefused...) {
		seed = append(seed, subsetSpec(v))
	}
	for _, s := range seed {
		b, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dir := f.TempDir()
	file := filepath.Join(dir, "excludes")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		f.Fatal(err)
	}
	repo := &restic.Repository{URL: filepath.Join(dir, "repo"), Password: "pw"}
	f.Fuzz(func(t *testing.T, data []byte) {
		var spec topics.JobSpec
		if json.Unmarshal(data, &spec) != nil {
			return
		}
		if err := spec.Validate(); err != nil {
			if _, reason := opFor(&spec, repo, topics.Bandwidth{}); reason == "" {
				t.Fatalf("topics refuses %s (%v), the agent accepts it", data, err)
			}
			return
		}
		onThisHost(&spec, dir, file)
		if err := spec.Validate(); err != nil {
			t.Fatalf("the host-only replacements broke the spec: %v", err)
		}
		if _, reason := opFor(&spec, repo, topics.Bandwidth{}); reason != "" {
			t.Fatalf("topics accepts %s, the agent refuses it: %s", data, reason)
		}
	})
}

// onThisHost makes what only the host checks hold here: a path that is
// absolute for topics but not on this OS becomes dir, exclude files and a
// restore target exist.
func onThisHost(spec *topics.JobSpec, dir, file string) {
	for i, p := range spec.Paths {
		if !filepath.IsAbs(p) {
			spec.Paths[i] = dir
		}
	}
	for i := range spec.ExcludeFiles {
		spec.ExcludeFiles[i] = file
	}
	if spec.Target != "" {
		spec.Target = dir
	}
}

// TestSpecValuesMatchRestic runs the real restic on a sample: what topics
// accepts restic accepts (forget --dry-run --keep-within, check
// --read-data-subset exit 0, with the value of the op the agent built),
// and what topics refuses restic refuses.
func TestSpecValuesMatchRestic(t *testing.T) {
	bin := agenttest.RequireBinary(t, "restic")
	dir := t.TempDir()
	env := append(os.Environ(), "RESTIC_REPOSITORY="+filepath.Join(dir, "repo"), "RESTIC_PASSWORD=pw",
		"RESTIC_CACHE_DIR="+filepath.Join(dir, "cache"))
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"-q"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A snapshot, so forget judges its policy (an empty repository has no
	// group to apply it to). The repository's key is cheap to derive: the
	// test runs restic once per value.
	agenttest.InitRepository(t, filepath.Join(dir, "repo"), "pw")
	if out, err := run("backup", data); err != nil {
		t.Fatalf("restic backup: %v\n%s", err, out)
	}
	repo := &restic.Repository{URL: filepath.Join(dir, "repo"), Password: "pw"}
	// With --no-lock, forget --dry-run and check take no (exclusive) lock,
	// so the values run in parallel on one repository.
	argsFor := func(op restic.Op) []string {
		if op.Kind == topics.JobForget {
			return []string{"forget", "--dry-run", "--no-lock", "--keep-within", op.Forget.Retention.Within}
		}
		return []string{"check", "--no-lock", "--read-data-subset", op.Check.ReadDataSubset}
	}
	type value struct {
		spec topics.JobSpec
		ok   bool
	}
	var values []value
	for _, v := range withinAccepted {
		values = append(values, value{withinSpec(v), true})
	}
	for _, v := range subsetAccepted {
		values = append(values, value{subsetSpec(v), true})
	}
	for _, v := range withinRefused {
		values = append(values, value{withinSpec(v), false})
	}
	for _, v := range subsetRefused {
		values = append(values, value{subsetSpec(v), false})
	}
	for _, tc := range values {
		name := tc.spec.ReadDataSubset
		if tc.spec.Retention != nil {
			name = tc.spec.Retention.Within
		}
		t.Run(string(tc.spec.Kind)+" "+name, func(t *testing.T) {
			t.Parallel()
			op, reason := opFor(&tc.spec, repo, topics.Bandwidth{})
			if tc.ok {
				if err := tc.spec.Validate(); err != nil || reason != "" {
					t.Fatalf("topics: %v; agent: %q; both must accept", err, reason)
				}
				if out, err := run(argsFor(op)...); err != nil {
					t.Fatalf("restic refuses what topics accepts: %v\n%s", err, out)
				}
				return
			}
			if err := tc.spec.Validate(); err == nil || reason == "" {
				t.Fatalf("topics: %v; agent: %q; both must refuse", err, reason)
			}
			op = restic.Op{Kind: topics.JobKind(tc.spec.Kind), Check: restic.CheckOptions{ReadDataSubset: tc.spec.ReadDataSubset}}
			if tc.spec.Retention != nil {
				op.Forget.Retention.Within = tc.spec.Retention.Within
			}
			out, err := run(argsFor(op)...)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || !strings.Contains(strings.ToLower(out), "fatal") && !strings.Contains(out, "invalid argument") {
				t.Fatalf("restic accepts what topics refuses (%v):\n%s", err, out)
			}
		})
	}
}
