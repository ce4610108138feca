package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// sourcePassword is the source host's repository password in the restore
// tests: distinctive, so a grep for it finds nothing else.
const sourcePassword = "src-repo-pw-Zebra-41-quartz"

// enrollAnother enrolls one more real agent on e's server, with the same
// recording restic wrapper as newJobEnv (or the program at restic, when
// not empty); it is not started.
func (e *jobEnv) enrollAnother(name, restic string) *jobEnv {
	e.t.Helper()
	t := e.t
	o := &jobEnv{t: t, dir: t.TempDir(), dataDir: e.dataDir, mqttsAddr: e.mqttsAddr, m: e.m, apiToken: e.apiToken, hostName: name}
	tok := cli(t, "", "token", "create", "--host", name, "--data", e.dataDir)
	o.cfgPath = filepath.Join(o.dir, "agent", "agent.yaml")
	enroll := exec.Command(agentBin, "enroll", "--server", e.m.HTTPSURL(), "--token", tok,
		"--ca-fingerprint", e.m.TLS().Fingerprint, "--config", o.cfgPath, "--state-dir", filepath.Join(o.dir, "agent", "state"))
	if out, err := enroll.CombinedOutput(); err != nil {
		t.Fatalf("enroll %s: %v\n%s", name, err, out)
	}
	o.resticLog = filepath.Join(o.dir, "restic-calls.log")
	if restic == "" {
		restic = agenttest.RequireBinary(t, "restic")
	}
	wrapper := filepath.Join(o.dir, "restic-wrapper")
	script := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %q\nexec %q \"$@\"\n", o.resticLog, restic)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	o.setAgentConfig("restic_binary", wrapper)
	hosts, err := e.m.Service().ListHosts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if h.Name == name {
			o.hostID = h.ID
		}
	}
	if o.hostID == "" {
		t.Fatalf("host %s not listed after enroll", name)
	}
	return o
}

// waitSnapshotListed waits until the server's snapshot list of e's host
// holds the snapshot id (the agent reports the list after a backup).
func (e *jobEnv) waitSnapshotListed(id string) {
	e.t.Helper()
	waitFor(e.t, "snapshot "+id[:8]+" in the host's list", 20*time.Second, func() bool {
		l, err := e.m.Service().Snapshots(e.t.Context(), e.hostID)
		return err == nil && slices.ContainsFunc(l.Snapshots, func(s server.Snapshot) bool { return s.ID == id })
	})
}

// createJob posts a job to a host as a caller and returns the status, the
// job (when created) and the refusal (when not).
func createJob(c apiClient, hostID string, body map[string]any) (int, jobJSON, apiError) {
	c.t.Helper()
	var j jobJSON
	var refusal apiError
	code := c.doRaw("POST", "/api/v1/hosts/"+hostID+"/jobs", body, &j)
	if code != http.StatusCreated {
		c.doRaw("POST", "/api/v1/hosts/"+hostID+"/jobs", body, &refusal) // the same refusal again: nothing was queued
	}
	return code, j, refusal
}

// apiError is the API's error body.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// grepTree lists the files under dir whose bytes contain secret.
func grepTree(t *testing.T, dir, secret string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestRestoreAnywhere (#14): one server, a source host with a repository
// and a snapshot, a target host with none, and a host whose restic is too
// old for --overwrite, all real agents running the real restic.
func TestRestoreAnywhere(t *testing.T) {
	t.Parallel()
	src := newJobEnv(t, "old-laptop")
	src.startAgent()
	repo := filepath.Join(src.dir, "repo")
	if init := src.setReadyRepository(repo, sourcePassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	dst := src.enrollAnother("new-laptop", "")
	dst.startAgent()

	data := makeData(t, filepath.Join(src.dir, "documents"), 12, 4<<10)
	live := filepath.Join(src.dir, "live")
	orig := writePolicyFiles(t, live)
	big := makeData(t, filepath.Join(src.dir, "big"), 4, 1<<20)
	backup := src.waitJob(src.runJob(map[string]any{"kind": "backup", "paths": []string{data, live, big}}), 60*time.Second)
	if backup.Status != "succeeded" {
		t.Fatalf("backup: %+v", backup)
	}
	src.waitSnapshotListed(backup.SnapshotID)

	addUser(t, src.m, "otto", server.RoleOperator)
	addUser(t, src.m, "vera", server.RoleViewer)
	admin := src.api()
	operator := apiClient{t: t, base: src.m.HTTPURL(), token: cli(t, "", "apitoken", "create", "--user", "otto", "--data", src.dataDir)}
	viewer := apiClient{t: t, base: src.m.HTTPURL(), token: cli(t, "", "apitoken", "create", "--user", "vera", "--data", src.dataDir)}

	t.Run("cross-host restore: files equal, no password left behind", func(t *testing.T) {
		into := filepath.Join(dst.dir, "restored")
		if err := os.MkdirAll(into, 0o755); err != nil {
			t.Fatal(err)
		}
		code, j, refusal := createJob(admin, dst.hostID, map[string]any{"kind": "restore", "source_host": src.hostID,
			"snapshot": "latest", "include": []string{data}, "target": into, "verify": true})
		if code != http.StatusCreated {
			t.Fatalf("cross-host restore: HTTP %d %+v", code, refusal)
		}
		done := dst.waitJob(j.ID, 60*time.Second)
		if done.Status != "succeeded" {
			t.Fatalf("cross-host restore: %+v\nlog: %q", done, dst.jobLog(j.ID))
		}
		sameTree(t, data, filepath.Join(into, data))
		if log := strings.Join(dst.jobLog(j.ID), "\n"); !strings.Contains(log, "verified:") {
			t.Errorf("the job log does not say the files were verified:\n%s", log)
		}
		var spec struct {
			Spec topics.JobSpec `json:"spec"`
		}
		admin.do("GET", fmt.Sprintf("/api/v1/jobs/%d", j.ID), nil, &spec)
		if spec.Spec.Snapshot != backup.SnapshotID || spec.Spec.SourceHost != src.hostID {
			t.Errorf("job spec = %+v, want snapshot %s (latest resolved) from %s", spec.Spec, backup.SnapshotID, src.hostID)
		}
		entries, err := src.m.Service().ListAudit(t.Context(), server.AuditFilter{Action: "job.create", Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 || !strings.Contains(entries[0].Details, `"source_host_id":"`+src.hostID+`"`) || entries[0].Target != "new-laptop" ||
			strings.Contains(entries[0].Details, sourcePassword) {
			t.Errorf("audit of the cross-host restore = %+v", entries)
		}
		// The password: not in the target agent's config, journal, outbox or
		// logs, nor in the server's database; the agent's own output neither.
		if hits := grepTree(t, filepath.Join(dst.dir, "agent"), sourcePassword); len(hits) > 0 {
			t.Errorf("the target agent's files hold the source password: %v", hits)
		}
		if hits := grepTree(t, src.dataDir, sourcePassword); len(hits) > 0 {
			t.Errorf("the server's data directory holds the source password: %v", hits)
		}
		if strings.Contains(dst.agentLogs(), sourcePassword) {
			t.Error("the target agent's log output holds the source password")
		}
	})

	t.Run("a restore's live progress and its summary", func(t *testing.T) {
		into := filepath.Join(dst.dir, "big")
		if err := os.MkdirAll(into, 0o755); err != nil {
			t.Fatal(err)
		}
		// 4 MiB at 1 MiB/s: a few seconds of status lines. restic writes
		// the files of one pack when the pack is in, so the percentage may
		// jump at the end; what must come while it runs is restic's status
		// with the totals, as the job page's bar shows it.
		_, j, _ := createJob(admin, dst.hostID, map[string]any{"kind": "restore", "source_host": src.hostID,
			"snapshot": backup.SnapshotID, "include": []string{big}, "target": into, "bandwidth_down_kbps": 1024})
		var seen *topics.JobProgress
		waitFor(t, "the restore's progress", 30*time.Second, func() bool {
			if p, ok := src.m.Service().JobProgress(j.ID); ok && p.BytesTotal >= 4<<20 && p.FilesTotal >= 4 {
				seen = p
				return true
			}
			return dst.job(j.ID).terminal()
		})
		done := dst.waitJob(j.ID, 60*time.Second)
		if seen == nil {
			t.Fatalf("no progress while the restore ran: %+v", done)
		}
		if done.Status != "succeeded" || done.Summary == nil || done.Summary.FilesRestored != 4 {
			t.Fatalf("restore of 4 files: %+v summary %+v", done, done.Summary)
		}
		sameTree(t, big, filepath.Join(into, big))
	})

	t.Run("permissions", func(t *testing.T) {
		into := filepath.Join(dst.dir, "refused")
		for _, c := range []struct {
			who    apiClient
			host   string
			body   map[string]any
			status int
		}{
			{operator, dst.hostID, map[string]any{"kind": "restore", "source_host": src.hostID, "snapshot": "latest", "target": into}, http.StatusForbidden},
			{operator, src.hostID, map[string]any{"kind": "restore", "snapshot": "latest", "include": []string{live}, "target": "/"}, http.StatusForbidden},
			{viewer, src.hostID, map[string]any{"kind": "restore", "snapshot": "latest", "target": into}, http.StatusForbidden},
			{viewer, dst.hostID, map[string]any{"kind": "restore", "source_host": src.hostID, "snapshot": "latest", "target": into}, http.StatusForbidden},
			{admin, dst.hostID, map[string]any{"kind": "restore", "source_host": dst.hostID, "snapshot": "latest", "target": into}, http.StatusBadRequest},
			{admin, src.hostID, map[string]any{"kind": "restore", "source_host": dst.hostID, "snapshot": "latest", "target": into}, http.StatusBadRequest},
			{admin, dst.hostID, map[string]any{"kind": "restore", "source_host": src.hostID, "snapshot": "0123abcd", "target": into}, http.StatusBadRequest},
		} {
			before := len(jobsOf(t, admin, c.host))
			code, _, refusal := createJob(c.who, c.host, c.body)
			if code != c.status || refusal.Message == "" || !strings.HasSuffix(refusal.Message, ".") {
				t.Errorf("%v on %s: HTTP %d %+v, want %d with a sentence", c.body, c.host, code, refusal, c.status)
			}
			if after := len(jobsOf(t, admin, c.host)); after != before {
				t.Errorf("%v: a refused restore queued a job", c.body)
			}
		}
	})

	t.Run("original location under each overwrite policy", func(t *testing.T) {
		for _, c := range []struct {
			policy string
			want   map[string]bool // file → restored to the snapshot's content
		}{
			{"always", map[string]bool{"newer": true, "older": true, "sneaky": true, "gone": true}},
			{"if-changed", map[string]bool{"newer": true, "older": true, "sneaky": false, "gone": true}},
			{"if-newer", map[string]bool{"newer": false, "older": true, "sneaky": false, "gone": true}},
			{"never", map[string]bool{"newer": false, "older": false, "sneaky": false, "gone": true}},
		} {
			local := changePolicyFiles(t, live, orig)
			code, j, refusal := createJob(admin, src.hostID, map[string]any{"kind": "restore", "snapshot": backup.SnapshotID,
				"include": []string{live}, "target": "/", "overwrite": c.policy})
			if code != http.StatusCreated {
				t.Fatalf("%s: HTTP %d %+v", c.policy, code, refusal)
			}
			if done := src.waitJob(j.ID, 60*time.Second); done.Status != "succeeded" {
				t.Fatalf("%s: %+v\nlog: %q", c.policy, done, src.jobLog(j.ID))
			}
			for name, restored := range c.want {
				got, _ := os.ReadFile(filepath.Join(live, name))
				want := local[name]
				if restored {
					want = orig[name]
				}
				if string(got) != want {
					t.Errorf("%s: %s holds %q, want %q", c.policy, name, got, want)
				}
			}
			if calls := src.resticCalls("restore"); len(calls) == 0 || !strings.Contains(calls[len(calls)-1], "--overwrite="+c.policy) {
				t.Errorf("%s: restic restore ran as %q", c.policy, calls)
			}
		}
	})

	t.Run("a restic without --overwrite refuses a policy", func(t *testing.T) {
		fake := filepath.Join(t.TempDir(), "restic-0.16")
		script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = version ]; then echo 'restic 0.16.4 compiled with go1.21.5 on linux/amd64'; exit 0; fi\nexec %q \"$@\"\n",
			agenttest.RequireBinary(t, "restic"))
		if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		old := src.enrollAnother("old-restic", fake)
		old.startAgent()
		into := filepath.Join(old.dir, "restored")
		if err := os.MkdirAll(into, 0o755); err != nil {
			t.Fatal(err)
		}
		code, j, refusal := createJob(admin, old.hostID, map[string]any{"kind": "restore", "source_host": src.hostID,
			"snapshot": "latest", "include": []string{data}, "target": into, "overwrite": "never"})
		if code != http.StatusCreated {
			t.Fatalf("HTTP %d %+v", code, refusal)
		}
		done := old.waitJob(j.ID, 30*time.Second)
		if done.Status != "failed" || !strings.Contains(done.Reason, "0.16.4") || !strings.Contains(done.Reason, topics.OverwriteMinRestic) {
			t.Fatalf("restore with never on restic 0.16.4: %+v, want failed naming both versions", done)
		}
		if calls := old.resticCalls("restore"); len(calls) > 0 {
			t.Errorf("restic restore ran: %q", calls)
		}
		// The default policy still restores, without the flag.
		_, j, _ = createJob(admin, old.hostID, map[string]any{"kind": "restore", "source_host": src.hostID,
			"snapshot": "latest", "include": []string{data}, "target": into, "overwrite": "always"})
		if done := old.waitJob(j.ID, 60*time.Second); done.Status != "succeeded" {
			t.Fatalf("restore with always on restic 0.16.4: %+v", done)
		}
		if calls := old.resticCalls("restore"); len(calls) != 1 || strings.Contains(calls[0], "--overwrite") {
			t.Errorf("restic restore on 0.16.4 ran as %q, want once without --overwrite", calls)
		}
	})
}

// jobsOf lists a host's jobs.
func jobsOf(t *testing.T, c apiClient, hostID string) []jobJSON {
	t.Helper()
	var list struct {
		Jobs []jobJSON `json:"jobs"`
	}
	if code := c.do("GET", "/api/v1/jobs?host="+hostID, nil, &list); code != http.StatusOK {
		t.Fatalf("list jobs: HTTP %d", code)
	}
	return list.Jobs
}

// The overwrite policy files: each differs from the snapshot after
// changePolicyFiles in a way that tells the policies apart.
//   - newer: other content, newer than the snapshot's copy;
//   - older: other content, older than the snapshot's copy;
//   - sneaky: other content of the same size and the same time;
//   - gone: deleted.
var policyTime = time.Now().Add(-48 * time.Hour).Truncate(time.Second)

// writePolicyFiles writes the files as the snapshot will hold them.
func writePolicyFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	orig := map[string]string{"newer": "newer as backed up", "older": "older as backed up", "sneaky": "sneaky as backed up", "gone": "gone as backed up"}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range orig {
		writeAt(t, filepath.Join(dir, name), s, policyTime)
	}
	return orig
}

// changePolicyFiles changes the files on disk and returns their new content.
func changePolicyFiles(t *testing.T, dir string, orig map[string]string) map[string]string {
	t.Helper()
	local := map[string]string{"newer": "newer, edited since", "older": "older, an old copy", "sneaky": "SNEAKY AS BACKED UP"}
	if len(local["sneaky"]) != len(orig["sneaky"]) {
		t.Fatal("sneaky must keep its size")
	}
	writeAt(t, filepath.Join(dir, "newer"), local["newer"], time.Now())
	writeAt(t, filepath.Join(dir, "older"), local["older"], policyTime.Add(-24*time.Hour))
	writeAt(t, filepath.Join(dir, "sneaky"), local["sneaky"], policyTime)
	if err := os.Remove(filepath.Join(dir, "gone")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return local
}

func writeAt(t *testing.T, path, content string, at time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}
