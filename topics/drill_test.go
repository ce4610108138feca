package topics

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDrillSpecValidate: a drill job's options are bounded, belong to a
// drill only, and default when absent.
func TestDrillSpecValidate(t *testing.T) {
	cases := []struct {
		name string
		spec JobSpec
		want string // "" valid, else a fragment of the error
	}{
		{"defaults", JobSpec{Kind: JobDrill}, ""},
		{"bounds", JobSpec{Kind: JobDrill, Drill: &DrillOptions{Files: MaxDrillFiles, MaxMB: MaxDrillMaxMB}}, ""},
		{"group", JobSpec{Kind: JobDrill, Drill: &DrillOptions{Files: 5, SourceGroup: "sg_4"}}, ""},
		{"too many files", JobSpec{Kind: JobDrill, Drill: &DrillOptions{Files: MaxDrillFiles + 1}}, "between 1 and 100 files"},
		{"negative files", JobSpec{Kind: JobDrill, Drill: &DrillOptions{Files: -1}}, "files"},
		{"too many MB", JobSpec{Kind: JobDrill, Drill: &DrillOptions{MaxMB: MaxDrillMaxMB + 1}}, "MB"},
		{"bad group", JobSpec{Kind: JobDrill, Drill: &DrillOptions{SourceGroup: "office"}}, "source group"},
		{"drill options on a check", JobSpec{Kind: JobCheck, Drill: &DrillOptions{}}, "belong to a drill job"},
		{"restore options on a drill", JobSpec{Kind: JobDrill, Target: "/tmp"}, "belong to a restore job"},
		{"paths on a drill", JobSpec{Kind: JobDrill, Paths: []string{"/etc"}}, "belong to a backup job"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.spec.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
		})
	}
	var nilOpts *DrillOptions
	if nilOpts.SampleFiles() != DefaultDrillFiles || nilOpts.SampleBytes() != DefaultDrillMaxMB<<20 || nilOpts.Group() != "" {
		t.Fatalf("defaults: %d files, %d bytes", nilOpts.SampleFiles(), nilOpts.SampleBytes())
	}
	if o := (&DrillOptions{Files: 3, MaxMB: 2}); o.SampleFiles() != 3 || o.SampleBytes() != 2<<20 {
		t.Fatalf("set: %d files, %d bytes", o.SampleFiles(), o.SampleBytes())
	}
}

// TestDrillScheduleValidate: drill is a schedule kind; its group lives in
// its drill options and must be one of the config's groups.
func TestDrillScheduleValidate(t *testing.T) {
	cases := []struct {
		name string
		sch  Schedule
		want string
	}{
		{"plain", Schedule{ID: "sch_1", Kind: JobDrill, Cron: "0 4 * * 0"}, ""},
		{"options", Schedule{ID: "sch_1", Kind: JobDrill, Cron: "@weekly", Drill: &DrillOptions{Files: 10, MaxMB: 50, SourceGroup: "sg_1"}}, ""},
		{"group as a backup's", Schedule{ID: "sch_1", Kind: JobDrill, Cron: "@weekly", SourceGroup: "sg_1"}, "drill.source_group"},
		{"options on a check", Schedule{ID: "sch_1", Kind: JobCheck, Cron: "@weekly", Drill: &DrillOptions{}}, "belong to a drill schedule"},
		{"too many files", Schedule{ID: "sch_1", Kind: JobDrill, Cron: "@weekly", Drill: &DrillOptions{Files: 1000}}, "files"},
		{"subset on a drill", Schedule{ID: "sch_1", Kind: JobDrill, Cron: "@weekly", ReadDataSubset: "10%"}, "read_data_subset"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.sch.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
		})
	}

	cfg := Config{Envelope: NewEnvelope(TypeConfig, "h_1"), Version: 1,
		SourceGroups: []SourceGroup{{ID: "sg_1", Name: "docs", Paths: []string{"/srv"}}},
		Schedules:    []Schedule{{ID: "sch_2", Kind: JobDrill, Cron: "@daily", Drill: &DrillOptions{SourceGroup: "sg_1"}}}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config with a drill of its group: %v", err)
	}
	cfg.Schedules[0].Drill.SourceGroup = "sg_9"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "sg_9") {
		t.Fatalf("config with a drill of a group it lacks: %v", err)
	}
}

// TestDrillResultValidate: counts add up, paths are bounded.
func TestDrillResultValidate(t *testing.T) {
	ok := DrillResult{Snapshot: strings.Repeat("ab", 32), Sampled: 5, Compared: 4, Matched: 3, Mismatched: 1, Skipped: 1,
		MismatchedPaths: []string{"/srv/a"}, BytesRestored: 10}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*DrillResult){
		"bad snapshot":  func(r *DrillResult) { r.Snapshot = "xyz" },
		"negative":      func(r *DrillResult) { r.Skipped = -1 },
		"more compared": func(r *DrillResult) { r.Compared = 6 },
		"too many":      func(r *DrillResult) { r.Sampled, r.Compared = MaxDrillFiles+1, 0 },
		"empty path":    func(r *DrillResult) { r.MismatchedPaths = []string{""} },
		"many paths":    func(r *DrillResult) { r.MismatchedPaths = make([]string, MaxDrillPaths+1) },
	} {
		r := ok
		mut(&r)
		if err := r.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// It travels in a job result and is checked there.
	res := JobResult{Drill: &DrillResult{Sampled: -1}}
	if err := res.Validate(); err == nil {
		t.Fatal("a job result with a bad drill result was accepted")
	}
	data, _ := json.Marshal(JobResult{Drill: &ok})
	var back JobResult
	if err := json.Unmarshal(data, &back); err != nil || back.Drill == nil || back.Drill.Matched != 3 {
		t.Fatalf("round trip: %s → %+v, %v", data, back.Drill, err)
	}
}
