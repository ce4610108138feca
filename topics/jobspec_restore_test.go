package topics

import (
	"strings"
	"testing"
	"time"
)

// TestRestoreSpecOptions is the table of restore anywhere's options
// (#14): overwrite policy, verify, source host, and where they belong.
func TestRestoreSpecOptions(t *testing.T) {
	t.Parallel()
	restore := func(edit func(*JobSpec)) JobSpec {
		s := JobSpec{Kind: JobRestore, Snapshot: "latest", Target: "/srv/restore"}
		edit(&s)
		return s
	}
	h := RandomID(HostIDPrefix)
	accepted := map[string]JobSpec{
		"no policy":       restore(func(*JobSpec) {}),
		"always":          restore(func(s *JobSpec) { s.Overwrite = OverwriteAlways }),
		"if-changed":      restore(func(s *JobSpec) { s.Overwrite = OverwriteIfChanged }),
		"if-newer":        restore(func(s *JobSpec) { s.Overwrite = OverwriteIfNewer }),
		"never":           restore(func(s *JobSpec) { s.Overwrite = OverwriteNever }),
		"verify":          restore(func(s *JobSpec) { s.Verify = true }),
		"source host":     restore(func(s *JobSpec) { s.SourceHost = h }),
		"original target": restore(func(s *JobSpec) { s.Target, s.Include = "/", []string{"/etc/hosts"} }),
	}
	for name, spec := range accepted {
		if err := spec.Validate(); err != nil {
			t.Errorf("%s: refused %+v: %v", name, spec, err)
		}
	}
	refused := []struct {
		name string
		spec JobSpec
		want string
	}{
		{"unknown policy", restore(func(s *JobSpec) { s.Overwrite = "sometimes" }), "overwrite policy"},
		{"policy upper case", restore(func(s *JobSpec) { s.Overwrite = "Never" }), "overwrite policy"},
		{"source host not an id", restore(func(s *JobSpec) { s.SourceHost = "web-01" }), "source_host"},
		{"source host pending id", restore(func(s *JobSpec) { s.SourceHost = RandomID(PendingIDPrefix) }), "source_host"},
		{"overwrite on a backup", JobSpec{Kind: JobBackup, Paths: []string{"/h"}, Overwrite: OverwriteNever}, "belong to a restore"},
		{"verify on a check", JobSpec{Kind: JobCheck, Verify: true}, "belong to a restore"},
		{"source host on unlock", JobSpec{Kind: JobUnlock, SourceHost: h}, "belong to a restore"},
	}
	for _, c := range refused {
		err := c.spec.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

func TestResticSupportsOverwrite(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{
		"0.18.1": true, "0.17.0": true, "0.17.3": true, "1.0.0": true, "0.20.0-dev": true, "v0.17.1": true,
		"0.16.5": false, "0.16.0-dev": false, "0.9.6": false, "0.8": false, "": false, "restic": false, "0": false, "x.17": false,
	} {
		if got := ResticSupportsOverwrite(v); got != want {
			t.Errorf("ResticSupportsOverwrite(%q) = %v, want %v", v, got, want)
		}
	}
	if err := CheckOverwriteSupport(OverwriteAlways, "0.16.4"); err != nil {
		t.Errorf("the default policy needs no support: %v", err)
	}
	if err := CheckOverwriteSupport("", ""); err != nil {
		t.Errorf("no policy needs no support: %v", err)
	}
	err := CheckOverwriteSupport(OverwriteNever, "0.16.4")
	if err == nil || !strings.Contains(err.Error(), "0.16.4") || !strings.Contains(err.Error(), OverwriteMinRestic) {
		t.Errorf("never on 0.16.4: %v, want a sentence naming both versions", err)
	}
	if err := CheckOverwriteSupport(OverwriteIfNewer, "0.17.0"); err != nil {
		t.Errorf("if-newer on 0.17.0: %v", err)
	}
}

func TestRestoresInPlace(t *testing.T) {
	t.Parallel()
	for target, want := range map[string]bool{"/": true, "//": true, "/.": true, `\`: true, "/srv": false, "/srv/..": true, "": false} {
		s := JobSpec{Kind: JobRestore, Target: target}
		if got := s.RestoresInPlace(); got != want {
			t.Errorf("target %q: RestoresInPlace = %v, want %v", target, got, want)
		}
	}
	if (&JobSpec{Kind: JobBackup, Target: "/"}).RestoresInPlace() {
		t.Error("only a restore restores in place")
	}
}

// TestCommandSourceRepository: the source repository travels only with a
// cross-host restore, valid; a cross-host restore may come without it
// (the agent's journaled copy).
func TestCommandSourceRepository(t *testing.T) {
	t.Parallel()
	h := RandomID(HostIDPrefix)
	repo := &RepositoryConfig{URL: "/srv/restic/other", Password: "pw"}
	cmd := func(spec JobSpec, src *RepositoryConfig) *Command {
		return &Command{Envelope: NewEnvelope(TypeCmd, h), Action: CmdRun, Job: RandomID(JobIDPrefix), Version: 1,
			ExpiresAt: time.Now().Add(time.Hour), Spec: &spec, SourceRepository: src}
	}
	cross := JobSpec{Kind: JobRestore, Snapshot: "latest", Target: "/srv/in", SourceHost: RandomID(HostIDPrefix)}
	same := JobSpec{Kind: JobRestore, Snapshot: "latest", Target: "/srv/in"}
	for name, c := range map[string]struct {
		cmd *Command
		ok  bool
	}{
		"cross-host with credentials":    {cmd(cross, repo), true},
		"cross-host without credentials": {cmd(cross, nil), true},
		"same host with credentials":     {cmd(same, repo), false},
		"cross-host with a bad repo":     {cmd(cross, &RepositoryConfig{URL: "/srv/x"}), false},
		"cancel with credentials": {&Command{Envelope: NewEnvelope(TypeCmd, h), Action: CmdCancel, Job: RandomID(JobIDPrefix),
			SourceRepository: repo}, false},
	} {
		if err := c.cmd.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: Validate = %v, want ok=%v", name, err, c.ok)
		}
	}
}
