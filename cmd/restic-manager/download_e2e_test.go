package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// downloadEnv is a server, a real agent with real restic, and a snapshot
// of src (a small tree with modes, and one large file) to download from.
type downloadEnv struct {
	*jobEnv
	src     string // backed up
	bigSize int64
	pidFile string // the pid of the last `restic dump` (the wrapper writes it)
}

// newDownloadEnv backs up a tree once. The agent's restic is a wrapper that
// records the pid of each `restic dump` before it becomes restic (exec
// keeps the pid), so a test can kill it mid-stream.
func newDownloadEnv(t *testing.T) *downloadEnv {
	e := &downloadEnv{jobEnv: newJobEnv(t, "files-1"), bigSize: 64 << 20}
	e.pidFile = filepath.Join(e.dir, "dump.pid")
	wrapper := filepath.Join(e.dir, "restic-dump-wrapper")
	script := fmt.Sprintf("#!/bin/sh\ncase \"$1\" in dump) echo $$ > %q;; esac\nexec %q \"$@\"\n",
		e.pidFile, agenttest.RequireBinary(t, "restic"))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e.setAgentConfig("restic_binary", wrapper)

	e.src = filepath.Join(e.dir, "src")
	files := map[string]struct {
		mode fs.FileMode
		data string
	}{
		"notes.txt":               {0o644, "the quick brown fox\n"},
		"docs/report.pdf":         {0o640, strings.Repeat("%PDF-1.7 ", 5000)},
		"docs/run.sh":             {0o755, "#!/bin/sh\necho hi\n"},
		"docs/private/key.txt":    {0o600, "not a real key\n"},
		"docs/private/deep/x.bin": {0o644, string(bytes.Repeat([]byte{0, 1, 2, 255}, 3000))},
	}
	for name, f := range files {
		p := filepath.Join(e.src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(e.src, "docs", "empty"), 0o750); err != nil {
		t.Fatal(err)
	}
	big, err := os.Create(filepath.Join(e.src, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(big, newPattern(), e.bigSize); err != nil {
		t.Fatal(err)
	}
	big.Close()

	e.startAgent()
	repo := filepath.Join(e.dir, "repo")
	if j := e.setReadyRepository(repo, "download-test-password"); j.Status != "succeeded" {
		t.Fatalf("init: %+v\n%s", j, e.agentLogs())
	}
	if j := e.waitJob(e.runJob(map[string]any{"kind": "backup", "paths": []string{e.src}}), 2*time.Minute); j.Status != "succeeded" {
		t.Fatalf("backup: %+v\n%s", j, e.agentLogs())
	}
	return e
}

// newPattern is an endless stream that does not compress or deduplicate
// away (restic would store a run of zeros as a few blobs).
func newPattern() io.Reader {
	return &patternReader{}
}

type patternReader struct{ block [sha256.Size]byte }

func (p *patternReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		p.block = sha256.Sum256(p.block[:])
		n += copy(b[n:], p.block[:])
	}
	return n, nil
}

// download GETs path from the latest snapshot as the API token and returns
// the response, the body as far as it came, and the read error.
func (e *downloadEnv) download(t *testing.T, token, query string) (*http.Response, []byte, error) {
	t.Helper()
	res := e.get(t, token, query)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

func (e *downloadEnv) get(t *testing.T, token, query string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet,
		e.m.HTTPURL()+"/api/v1/hosts/"+e.hostID+"/snapshots/latest/download?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func pathQuery(p string, format string) string {
	q := url.Values{"path": {p}}
	if format != "" {
		q.Set("format", format)
	}
	return q.Encode()
}

// downloadsAudited counts the audit rows of downloads that went ok or not.
func (e *downloadEnv) downloadsAudited(t *testing.T, ok bool) int {
	t.Helper()
	rows, err := e.m.Service().ListAudit(t.Context(), server.AuditFilter{Action: "snapshot.download", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if strings.Contains(r.Details, fmt.Sprintf(`"ok":%t`, ok)) {
			n++
		}
	}
	return n
}

func TestDownloadE2E(t *testing.T) {
	t.Parallel()
	e := newDownloadEnv(t)
	token := e.apiToken

	t.Run("a file equals its source byte for byte", func(t *testing.T) {
		want, err := os.ReadFile(filepath.Join(e.src, "docs", "report.pdf"))
		if err != nil {
			t.Fatal(err)
		}
		res, got, err := e.download(t, token, pathQuery(path.Join(e.src, "docs", "report.pdf"), ""))
		if err != nil || res.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
			t.Fatalf("download = %d, %d bytes (want %d), %v\n%s", res.StatusCode, len(got), len(want), err, e.agentLogs())
		}
		if res.ContentLength != int64(len(want)) || res.Header.Get("Content-Disposition") != "attachment; filename=report.pdf" {
			t.Errorf("Content-Length %d, Content-Disposition %q", res.ContentLength, res.Header.Get("Content-Disposition"))
		}
	})

	t.Run("a folder's tar.gz extracts to the same tree", func(t *testing.T) {
		res, got, err := e.download(t, token, pathQuery(path.Join(e.src, "docs"), "tar.gz"))
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("download = %d, %v\n%s", res.StatusCode, err, e.agentLogs())
		}
		if res.Header.Get("Content-Disposition") != "attachment; filename=docs.tar.gz" {
			t.Errorf("Content-Disposition %q", res.Header.Get("Content-Disposition"))
		}
		out := t.TempDir()
		extractTarGz(t, got, out)
		sameTreeModes(t, filepath.Join(e.src, "docs"), filepath.Join(out, "docs"))
	})

	t.Run("a folder's zip extracts to the same tree", func(t *testing.T) {
		res, got, err := e.download(t, token, pathQuery(path.Join(e.src, "docs"), "zip"))
		if err != nil || res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/zip" {
			t.Fatalf("download = %d %q, %v\n%s", res.StatusCode, res.Header.Get("Content-Type"), err, e.agentLogs())
		}
		out := t.TempDir()
		extractZip(t, got, out)
		sameTreeModes(t, filepath.Join(e.src, "docs"), filepath.Join(out, "docs"))
	})

	t.Run("restic killed mid-way is an error at both ends", func(t *testing.T) {
		failedBefore := e.downloadsAudited(t, false)
		os.Remove(e.pidFile)
		res := e.get(t, token, pathQuery(path.Join(e.src, "big.bin"), ""))
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK || res.ContentLength != e.bigSize {
			t.Fatalf("download = %d, Content-Length %d", res.StatusCode, res.ContentLength)
		}
		// The browser reads a little and stops; the pipeline fills and
		// restic waits on it, mid-file. Then restic dies.
		if _, err := io.ReadFull(res.Body, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		killDump(t, e.pidFile)
		n, err := io.Copy(io.Discard, res.Body)
		if err == nil || 1<<20+n >= e.bigSize {
			t.Fatalf("after restic died the browser read %d more bytes and %v; want an error before the end", n, err)
		}
		waitFor(t, "the agent logs the failed download", 20*time.Second, func() bool {
			return strings.Contains(e.agentLogs(), "download failed") && strings.Contains(e.agentLogs(), "restic dump failed")
		})
		waitFor(t, "the failure audited", 10*time.Second, func() bool { return e.downloadsAudited(t, false) > failedBefore })
	})

	t.Run("a browser that goes away stops restic on the agent", func(t *testing.T) {
		logged := strings.Count(e.agentLogs(), "download failed")
		os.Remove(e.pidFile)
		res := e.get(t, token, pathQuery(path.Join(e.src, "big.bin"), ""))
		if _, err := io.ReadFull(res.Body, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		pid := dumpPid(t, e.pidFile)
		res.Body.Close() // the browser goes away
		waitFor(t, "the agent logs the download cut", 30*time.Second, func() bool {
			return strings.Count(e.agentLogs(), "download failed") > logged
		})
		waitFor(t, "restic dump gone", 30*time.Second, func() bool { return processGone(pid) })
	})

	t.Run("an offline host says so at once", func(t *testing.T) {
		other := cli(t, "", "token", "create", "--host", "files-2", "--data", e.dataDir)
		cfg := filepath.Join(e.dir, "agent-2", "agent.yaml")
		enrollAgent(t, e.m, other, cfg)
		hosts, err := e.m.Service().ListHosts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hosts {
			if h.Name != "files-2" {
				continue
			}
			var body struct{ Error, Message string }
			code, data := e.api().send("GET", "/api/v1/hosts/"+h.ID+"/snapshots/latest/download?path=/etc/hosts", nil)
			if err := json.Unmarshal(data, &body); err != nil {
				t.Fatalf("offline host: %d %s", code, data)
			}
			if code != http.StatusConflict || body.Error != string(server.CodeHostOffline) || !strings.Contains(body.Message, "offline") {
				t.Errorf("offline host = %d %+v", code, body)
			}
		}
	})

	t.Run("an upload token is single-use and bound to its host", func(t *testing.T) {
		// The agent now uploads through a proxy that shows the test each
		// upload: it tries the token as the other host first, lets the
		// agent's upload through, then replays it.
		other := readAgentConfig(t, filepath.Join(e.dir, "agent-2", "agent.yaml"))
		var mu sync.Mutex
		var seen []*http.Request
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, topics.DumpUploadPrefix) {
				http.NotFound(w, r)
				return
			}
			mu.Lock()
			seen = append(seen, r.Clone(t.Context()))
			mu.Unlock()
			if code := postUpload(t, e.m.HTTPURL()+r.URL.Path, other["host_id"], other["mqtt_password"]); code != http.StatusForbidden {
				t.Errorf("the token used by another host = %d, want 403", code)
			}
			relayUpload(t, w, r, e.m.HTTPURL()+r.URL.Path)
		}))
		defer proxy.Close()
		e.agent.stop(syscall.SIGTERM)
		e.setAgentConfig("server_url", proxy.URL)
		e.startAgent()

		want, _ := os.ReadFile(filepath.Join(e.src, "notes.txt"))
		res, got, err := e.download(t, token, pathQuery(path.Join(e.src, "notes.txt"), ""))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("download through the proxy = %d %q %v\n%s", res.StatusCode, got, err, e.agentLogs())
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 1 {
			t.Fatalf("the proxy saw %d uploads, want 1", len(seen))
		}
		user, pass, _ := seen[0].BasicAuth()
		if user != e.hostID {
			t.Errorf("the upload came as %q, want the host %s", user, e.hostID)
		}
		if code := postUpload(t, e.m.HTTPURL()+seen[0].URL.Path, user, pass); code != http.StatusNotFound {
			t.Errorf("the replayed upload = %d, want 404", code)
		}
	})

	if ok := e.downloadsAudited(t, true); ok < 4 {
		t.Errorf("%d downloads audited as ok, want at least 4", ok)
	}
}

// enrollAgent enrolls a host with the real agent binary (it does not run).
func enrollAgent(t *testing.T, m *Main, token, cfg string) {
	t.Helper()
	out, err := exec.Command(agentBin, "enroll", "--server", m.HTTPSURL(), "--token", token,
		"--ca-fingerprint", m.TLS().Fingerprint, "--config", cfg, "--state-dir", filepath.Join(filepath.Dir(cfg), "state")).CombinedOutput()
	if err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
}

var yamlLineRE = regexp.MustCompile(`(?m)^([a-z_]+):\s*"?([^"\n]*)"?$`)

// readAgentConfig reads the top-level scalars of an agent's YAML config.
func readAgentConfig(t *testing.T, p string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range yamlLineRE.FindAllStringSubmatch(string(data), -1) {
		out[m[1]] = m[2]
	}
	if out["host_id"] == "" || out["mqtt_password"] == "" {
		t.Fatalf("no host_id or mqtt_password in %s", p)
	}
	return out
}

// relayUpload sends the upload r on to u, its trailer too, and the answer
// back to w.
func relayUpload(t *testing.T, w http.ResponseWriter, r *http.Request, u string) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u, nil)
	if err != nil {
		t.Error(err)
		return
	}
	out.Header = r.Header.Clone()
	out.ContentLength = -1
	out.Trailer = http.Header{}
	for k := range r.Trailer {
		out.Trailer[k] = nil
	}
	out.Body = &relayBody{in: r, out: out}
	res, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body)
}

// relayBody reads the incoming upload and, at its end, puts its trailer
// on the outgoing one.
type relayBody struct{ in, out *http.Request }

func (b *relayBody) Read(p []byte) (int, error) {
	n, err := b.in.Body.Read(p)
	if err == io.EOF {
		for k, v := range b.in.Trailer {
			b.out.Trailer[k] = v
		}
	}
	return n, err
}

func (b *relayBody) Close() error { return b.in.Body.Close() }

// postUpload POSTs a small complete upload to u as user and returns the
// status.
func postUpload(t *testing.T, u, user, pass string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader("forged"))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, pass)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// dumpPid waits for the wrapper's pid file of the running `restic dump`.
func dumpPid(t *testing.T, pidFile string) int {
	t.Helper()
	var pid int
	waitFor(t, "restic dump started", 20*time.Second, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid
}

// killDump kills the running `restic dump` (SIGKILL: no chance to end its
// output cleanly).
func killDump(t *testing.T, pidFile string) {
	t.Helper()
	p, err := os.FindProcess(dumpPid(t, pidFile))
	if err == nil {
		err = p.Kill()
	}
	if err != nil {
		t.Fatalf("kill restic dump: %v (it should still be waiting on the full pipe)", err)
	}
}

// processGone reports whether no process pid exists any more (signal 0
// probes without sending anything).
func processGone(pid int) bool {
	p, err := os.FindProcess(pid)
	return err != nil || p.Signal(syscall.Signal(0)) != nil
}

func extractTarGz(t *testing.T, data []byte, dir string) {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Fatalf("archive entry %q escapes the folder", h.Name)
		}
		writeEntry(t, p, h.FileInfo().Mode(), tr)
	}
}

func extractZip(t *testing.T, data []byte, dir string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Fatalf("archive entry %q escapes the folder", f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		writeEntry(t, p, f.Mode(), rc)
		rc.Close()
	}
}

// writeEntry makes one archive entry on disk with its mode.
func writeEntry(t *testing.T, p string, mode fs.FileMode, r io.Reader) {
	t.Helper()
	if mode.IsDir() {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(p, mode.Perm()); err != nil {
		t.Fatal(err)
	}
}

// sameTreeModes fails unless got holds exactly want's folders and files,
// with the same contents and permission bits.
func sameTreeModes(t *testing.T, want, got string) {
	t.Helper()
	list := func(root string) map[string]string {
		out := map[string]string{}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if rel == "." {
				return nil // the folder itself: an archive of it holds its contents
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			desc := info.Mode().String()
			if !d.IsDir() {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				desc += fmt.Sprintf(" %x", sha256.Sum256(b))
			}
			out[rel] = desc
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	w, g := list(want), list(got)
	if len(w) < 6 {
		t.Fatalf("the source tree has %d entries: the test is not reading it", len(w))
	}
	for rel, desc := range w {
		if g[rel] != desc {
			t.Errorf("%s: got %q, want %q", rel, g[rel], desc)
		}
	}
	for rel := range g {
		if _, ok := w[rel]; !ok {
			t.Errorf("%s is in the archive but not in the source", rel)
		}
	}
}
