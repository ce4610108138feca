package topics

import (
	"strings"
	"testing"
)

// TestJobSpecValidate is the table of what a job spec may say. The
// read_data_subset and within cases follow restic 0.18.1 (the agent's
// TestSpecValuesMatchRestic runs the real restic on a sample of them).
func TestJobSpecValidate(t *testing.T) {
	t.Parallel()
	check := func(subset string) JobSpec { return JobSpec{Kind: JobCheck, ReadDataSubset: subset} }
	within := func(w string) JobSpec { return JobSpec{Kind: JobForget, Retention: &Retention{Within: w}} }
	accepted := map[string]JobSpec{
		"backup":            {Kind: JobBackup, Paths: []string{"/home", `C:\Users`}, Excludes: []string{"*.tmp"}, Tags: []string{"rm-group:sg_2"}, ExcludeFiles: []string{"/etc/ex"}},
		"backup forget":     {Kind: JobBackup, Paths: []string{"/srv"}, SourceGroup: "sg_2", ForgetAfter: &Retention{Daily: 7}},
		"forget counts":     {Kind: JobForget, Retention: &Retention{Last: 3, Weekly: 4, Tags: []string{"keep"}}, Prune: true, FilterTags: []string{"rm-group:sg_1"}},
		"forget dry run":    {Kind: JobForget, Retention: &Retention{Yearly: 1}, DryRun: true},
		"within 7d":         within("7d"),
		"within 7d1y":       within("7d1y"),
		"within 1y2m3d4h":   within("1y2m3d4h"),
		"within 12h":        within("12h"),
		"within 0y1h":       within("0y1h"),
		"within 1d1d":       within("1d1d"),
		"check plain":       check(""),
		"subset 1/5":        check("1/5"),
		"subset 5/5":        check("5/5"),
		"subset 1/256":      check("1/256"),
		"subset 10%":        check("10%"),
		"subset 2.5%":       check("2.5%"),
		"subset 100%":       check("100%"),
		"subset 0.01%":      check("0.01%"),
		"subset 500M":       check("500M"),
		"subset 2g":         check("2g"),
		"subset 1b":         check("1b"),
		"subset 8T":         check("8T"),
		"restore":           {Kind: JobRestore, Snapshot: "latest", Target: "/tmp/out", Include: []string{"/etc"}},
		"restore id":        {Kind: JobRestore, Snapshot: "0123abcd", Target: `D:\restore`},
		"prune with limits": {Kind: JobPrune, BandwidthUpKBps: 100, BandwidthDownKBps: MaxBandwidthKiB},
		"unlock":            {Kind: JobUnlock},
	}
	for name, spec := range accepted {
		t.Run("accept "+name, func(t *testing.T) {
			if err := spec.Validate(); err != nil {
				t.Fatalf("refused %+v: %v", spec, err)
			}
		})
	}
	refused := []struct {
		name string
		spec JobSpec
		want string // part of the error
	}{
		{"unknown kind", JobSpec{Kind: "destroy"}, "unknown job kind"},
		{"backup no paths", JobSpec{Kind: JobBackup}, "at least one path"},
		{"backup relative path", JobSpec{Kind: JobBackup, Paths: []string{"home"}}, "absolute"},
		{"backup newline", JobSpec{Kind: JobBackup, Paths: []string{"/ho\nme"}}, "control"},
		{"backup tag comma", JobSpec{Kind: JobBackup, Paths: []string{"/h"}, Tags: []string{"a,b"}}, "not a tag"},
		{"backup tag space", JobSpec{Kind: JobBackup, Paths: []string{"/h"}, Tags: []string{"keep me"}}, "not a tag"},
		{"forget after without group", JobSpec{Kind: JobBackup, Paths: []string{"/h"}, ForgetAfter: &Retention{Last: 1}}, "source group"},
		{"negative bandwidth", JobSpec{Kind: JobUnlock, BandwidthUpKBps: -1}, "bandwidth"},
		{"forget no retention", JobSpec{Kind: JobForget}, "retention policy"},
		{"forget empty retention", within(""), "no rule"},
		{"forget dry run prune", JobSpec{Kind: JobForget, Retention: &Retention{Last: 1}, DryRun: true, Prune: true}, "dry run"},
		{"negative keep", JobSpec{Kind: JobForget, Retention: &Retention{Daily: -1}}, "daily"},
		{"within 0d", within("0d"), "zero"},
		{"within 1d0d", within("1d0d"), "zero"},
		{"within -1d", within("-1d"), "not a restic duration"},
		{"within 4w", within("4w"), "not a restic duration"},
		{"within 7", within("7"), "not a restic duration"},
		{"within d", within("d"), "not a restic duration"},
		{"within 7 d", within("7 d"), "not a restic duration"},
		{"within 7 days", within("7 days"), "not a restic duration"},
		{"subset 0/5", check("0/5"), "read_data_subset"},
		{"subset 5/3", check("5/3"), "read_data_subset"},
		{"subset 0", check("0"), "read_data_subset"},
		{"subset 500", check("500"), "read_data_subset"},
		{"subset 1/257", check("1/257"), "read_data_subset"},
		{"subset 1/2/3", check("1/2/3"), "read_data_subset"},
		{"subset 0%", check("0%"), "read_data_subset"},
		{"subset 100.5%", check("100.5%"), "read_data_subset"},
		{"subset 0M", check("0M"), "read_data_subset"},
		{"subset 99999999T", check("99999999T"), "read_data_subset"},
		{"subset 5W", check("5W"), "read_data_subset"},
		{"subset on backup", JobSpec{Kind: JobBackup, Paths: []string{"/h"}, ReadDataSubset: "1/5"}, "belongs to a check"},
		{"retention on check", JobSpec{Kind: JobCheck, Retention: &Retention{Last: 1}}, "belong to a forget"},
		{"restore bad id", JobSpec{Kind: JobRestore, Snapshot: "xyz", Target: "/t"}, "snapshot"},
		{"restore no target", JobSpec{Kind: JobRestore, Snapshot: "latest"}, "target"},
		{"restore relative target", JobSpec{Kind: JobRestore, Snapshot: "latest", Target: "out"}, "absolute"},
		{"target on backup", JobSpec{Kind: JobBackup, Paths: []string{"/h"}, Target: "/t"}, "belong to a restore"},
	}
	for _, tc := range refused {
		t.Run("refuse "+tc.name, func(t *testing.T) {
			err := tc.spec.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
