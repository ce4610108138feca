package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// The download's rendezvous through the real web layer and domain, with a
// stand-in agent: it answers the dump query it sees published and POSTs
// the upload as the real agent does (basic auth, chunked body, trailer).
// Real agents and restic: cmd/restic-manager/download_e2e_test.go.

// dumpAgent answers dump queries for one host.
type dumpAgent struct {
	t        *testing.T
	app      *testApp
	host     *server.EnrollResult
	start    topics.DumpStart
	body     []byte
	trailer  func(n int64, sum string) map[string]string // nil: a cut, no trailer
	cutAfter int                                         // with trailer nil: bytes sent before the cut

	mu      sync.Mutex
	tokens  []string
	answers []int // the upload's HTTP statuses
	done    chan struct{}
	// first, when set, runs with each dump query before it is answered.
	first func(q topics.Query)
}

// okTrailer is the trailer of a dump that went well.
func okTrailer(n int64, sum string) map[string]string {
	return topics.DumpTrailer{OK: true, Bytes: n, SHA256: sum}.Values()
}

// newDumpAgent enrolls an online host answered by a new dumpAgent, the
// Publisher's hook (set before the service's goroutines run).
func newDumpAgent(t *testing.T, app *testApp, name string) *dumpAgent {
	res := app.enrollHost(name)
	a := &dumpAgent{t: t, app: app, host: res, done: make(chan struct{}, 16)}
	app.pub.Hook = a.hook
	app.runService()
	app.svc.Presence().Connected(res.HostID, 1, "192.0.2.10:4000")
	a.serve([]byte("127.0.0.1 localhost\n"), topics.DumpStart{Kind: topics.DumpKindFile, Size: 20}, okTrailer)
	return a
}

// serve sets what the next downloads get.
func (a *dumpAgent) serve(body []byte, start topics.DumpStart, trailer func(int64, string) map[string]string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.body, a.start, a.trailer = body, start, trailer
}

// hook is the Publisher's: it answers a dump query for a.host and uploads.
func (a *dumpAgent) hook(m servertest.PublishedMessage) {
	if m.Topic != topics.QueryTopic(a.host.HostID) {
		return
	}
	var q topics.Query
	if err := topics.DecodeFrom(m.Payload, a.host.HostID, &q); err != nil || q.Op != topics.QueryDump {
		a.t.Errorf("query: %v %+v", err, q)
		return
	}
	a.mu.Lock()
	a.tokens = append(a.tokens, q.Upload)
	start, body, trailer, cut, first := a.start, a.body, a.trailer, a.cutAfter, a.first
	a.mu.Unlock()
	if first != nil {
		first(q)
	}
	r := &topics.Reply{Envelope: topics.NewEnvelope(topics.TypeReply, a.host.HostID), Request: q.ID, Op: q.Op, Dump: &start}
	b, err := topics.Encode(r)
	if err != nil {
		a.t.Error(err)
		return
	}
	a.app.svc.HandleMessage(topics.ReplyTopic(a.host.HostID), b, a.host.HostID, 1)
	go func() {
		status := a.upload(q.Upload, a.host, body, trailer, cut)
		a.mu.Lock()
		a.answers = append(a.answers, status)
		a.mu.Unlock()
		a.done <- struct{}{}
	}()
}

// upload POSTs body as host with token, ending with trailer (or cut after
// cut bytes when trailer is nil), and returns the server's status (0 when
// the request failed).
func (a *dumpAgent) upload(token string, host *server.EnrollResult, body []byte, trailer func(int64, string) map[string]string, cut int) int {
	req, err := http.NewRequest(http.MethodPost, a.app.srv.URL+topics.DumpUploadPath(token), nil)
	if err != nil {
		a.t.Error(err)
		return 0
	}
	req.Body = &trailingBody{r: bytes.NewReader(body), req: req, trailer: trailer, cut: cut}
	req.ContentLength = -1
	req.Trailer = http.Header{}
	for _, n := range topics.DumpTrailerNames {
		req.Trailer[n] = nil
	}
	req.SetBasicAuth(host.HostID, host.MQTTPassword)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

func (a *dumpAgent) lastToken() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tokens[len(a.tokens)-1]
}

// waitUpload waits for the next upload's answer.
func (a *dumpAgent) waitUpload() int {
	a.t.Helper()
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		a.t.Fatal("the upload did not end")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.answers[len(a.answers)-1]
}

// trailingBody reads r and sets the trailer at its end, or fails after cut
// bytes when trailer is nil (a connection that breaks).
type trailingBody struct {
	r       io.Reader
	req     *http.Request
	trailer func(int64, string) map[string]string
	cut     int
	n       int64
	sum     []byte
}

func (b *trailingBody) Read(p []byte) (int, error) {
	if b.trailer == nil && b.n >= int64(b.cut) {
		return 0, errors.New("the agent's connection broke")
	}
	if b.trailer == nil {
		p = p[:min(len(p), b.cut-int(b.n))]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	b.sum = append(b.sum, p[:n]...)
	if err == io.EOF && b.trailer != nil {
		h := sha256.Sum256(b.sum)
		for k, v := range b.trailer(b.n, hex.EncodeToString(h[:])) {
			b.req.Trailer.Set(k, v)
		}
	}
	return n, err
}

func (b *trailingBody) Close() error { return nil }

// fetch GETs a download and reads it whole; err is the body's read error.
func fetch(t *testing.T, c *client, path string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.app.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

func TestDownloadThroughTheServer(t *testing.T) {
	app := newTestApp(t)
	agent := newDumpAgent(t, app, "files-1")
	other := app.enrollHost("files-2") // enrolled, never online
	servertest.MustCreateUser(t, app.svc, "otto", server.RoleOperator)
	servertest.MustCreateUser(t, app.svc, "vic", server.RoleViewer)
	api := app.apiClient("otto")
	base := "/api/v1/hosts/" + agent.host.HostID + "/snapshots/latest/download"

	t.Run("a file arrives whole, named and sized", func(t *testing.T) {
		res, body, err := fetch(t, api, base+"?path=/etc/hosts")
		if err != nil || res.StatusCode != http.StatusOK || string(body) != "127.0.0.1 localhost\n" {
			t.Fatalf("download = %d %q %v", res.StatusCode, body, err)
		}
		if res.ContentLength != 20 || res.Header.Get("Content-Disposition") != `attachment; filename=hosts` {
			t.Errorf("Content-Length %d, Content-Disposition %q", res.ContentLength, res.Header.Get("Content-Disposition"))
		}
		if got := agent.waitUpload(); got != http.StatusOK {
			t.Errorf("the agent's upload was answered %d, want 200", got)
		}
		e := app.lastAudit()
		if e.Action != "snapshot.download" || e.Actor != "otto" || !strings.Contains(e.Details, `"ok":true`) ||
			!strings.Contains(e.Details, `"bytes":20`) || !strings.Contains(e.Details, `"path":"/etc/hosts"`) {
			t.Errorf("audit row = %+v", e)
		}
	})

	t.Run("a token is spent by its upload", func(t *testing.T) {
		if got := agent.upload(agent.lastToken(), agent.host, []byte("forged"), okTrailer, 0); got != http.StatusNotFound {
			t.Errorf("a replayed upload was answered %d, want 404", got)
		}
	})

	t.Run("a folder comes as an archive, chunked", func(t *testing.T) {
		archive := append([]byte("\x1f\x8b"), bytes.Repeat([]byte("a"), 3*downloadChunk)...)
		agent.serve(archive, topics.DumpStart{Kind: topics.DumpKindDir, Format: topics.DumpTarGz}, okTrailer)
		res, body, err := fetch(t, api, base+"?path=/home/ada&format=tar.gz")
		if err != nil || res.StatusCode != http.StatusOK || !bytes.Equal(body, archive) {
			t.Fatalf("download = %d, %d bytes, %v", res.StatusCode, len(body), err)
		}
		if res.ContentLength != -1 || res.Header.Get("Content-Type") != "application/gzip" ||
			res.Header.Get("Content-Disposition") != `attachment; filename=ada.tar.gz` {
			t.Errorf("Content-Length %d, Content-Type %q, Content-Disposition %q", res.ContentLength,
				res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
		}
		agent.waitUpload()
	})

	t.Run("a failed dump is an error at both ends", func(t *testing.T) {
		agent.serve(bytes.Repeat([]byte("x"), 100<<10), topics.DumpStart{Kind: topics.DumpKindFile, Size: 100 << 10},
			func(int64, string) map[string]string {
				return topics.DumpTrailer{Error: "restic dump failed: pack 1234 is damaged"}.Values()
			})
		res, body, err := fetch(t, api, base+"?path=/var/big")
		if res.StatusCode != http.StatusOK || err == nil {
			t.Fatalf("download = %d, %d bytes, read error %v; want 200 then a broken body", res.StatusCode, len(body), err)
		}
		if len(body) >= 100<<10 {
			t.Errorf("the browser got all %d bytes of a failed dump", len(body))
		}
		if got := agent.waitUpload(); got < 400 {
			t.Errorf("the agent's upload was answered %d, want an error", got)
		}
		if e := app.lastAudit(); !strings.Contains(e.Details, `"ok":false`) || !strings.Contains(e.Details, "pack 1234 is damaged") {
			t.Errorf("audit row = %+v", e)
		}
	})

	t.Run("a cut upload is an error, not a shorter file", func(t *testing.T) {
		agent.serve(bytes.Repeat([]byte("y"), 100<<10), topics.DumpStart{Kind: topics.DumpKindDir, Format: topics.DumpZip}, nil)
		agent.mu.Lock()
		agent.cutAfter = 40 << 10
		agent.mu.Unlock()
		res, body, err := fetch(t, api, base+"?path=/var/lib&format=zip")
		if res.StatusCode != http.StatusOK || err == nil {
			t.Fatalf("download = %d, %d bytes, read error %v; want 200 then a broken body", res.StatusCode, len(body), err)
		}
		agent.waitUpload()
		agent.mu.Lock()
		agent.cutAfter = 0
		agent.mu.Unlock()
	})

	t.Run("another host cannot use the token", func(t *testing.T) {
		agent.serve([]byte("secret"), topics.DumpStart{Kind: topics.DumpKindFile, Size: 6}, okTrailer)
		// The stand-in tries the other host's credentials first, then its own.
		agent.mu.Lock()
		agent.first = func(q topics.Query) {
			if got := agent.upload(q.Upload, other, []byte("nope"), okTrailer, 0); got != http.StatusForbidden {
				t.Errorf("another host's upload was answered %d, want 403", got)
			}
			bad := *agent.host
			bad.MQTTPassword = "wrong"
			if got := agent.upload(q.Upload, &bad, []byte("nope"), okTrailer, 0); got != http.StatusUnauthorized {
				t.Errorf("an upload with a wrong password was answered %d, want 401", got)
			}
		}
		agent.mu.Unlock()
		defer func() {
			agent.mu.Lock()
			agent.first = nil
			agent.mu.Unlock()
		}()
		res, body, err := fetch(t, api, base+"?path=/etc/secret")
		if err != nil || string(body) != "secret" {
			t.Fatalf("download after the other host's try = %d %q %v", res.StatusCode, body, err)
		}
		agent.waitUpload()
	})

	t.Run("refusals come before any byte", func(t *testing.T) {
		downloads := func() int {
			t.Helper()
			rows, err := app.svc.ListAudit(t.Context(), server.AuditFilter{Action: "snapshot.download", Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			return len(rows)
		}
		before := downloads()
		offline := api.get("/api/v1/hosts/" + other.HostID + "/snapshots/latest/download?path=/etc/hosts")
		if e := apiErrorOf(t, offline); e.Error != server.CodeHostOffline || !strings.Contains(e.Message, "offline") {
			t.Errorf("offline host = %d %+v", offline.StatusCode, e)
		}
		for path, want := range map[string]string{
			"?path=etc/hosts":             "absolute",
			"?path=/etc/../etc/hosts":     "..",
			"?path=/etc&format=tar":       "format",
			"":                            "path",
			"?path=/etc&format=tar.gz%00": "format",
		} {
			res := api.get(base + path)
			if e := apiErrorOf(t, res); res.StatusCode != http.StatusBadRequest || !strings.Contains(strings.ToLower(e.Message), want) {
				t.Errorf("%s = %d %+v, want 400 naming %q", path, res.StatusCode, e, want)
			}
		}
		viewer := app.apiClient("vic")
		if res := viewer.get(base + "?path=/etc/hosts"); res.StatusCode != http.StatusForbidden {
			t.Errorf("a viewer's download = %d, want 403", res.StatusCode)
		}
		page, _ := app.signedIn("vera", server.RoleViewer)
		if res := page.get("/hosts/" + agent.host.HostID + "/snapshots/latest/download?path=/etc/hosts"); res.StatusCode != http.StatusForbidden {
			t.Errorf("a viewer's download from the page = %d, want 403", res.StatusCode)
		}
		if after := downloads(); after != before {
			t.Errorf("refusals wrote %d audit rows", after-before)
		}
	})

	t.Run("the page's route downloads for an operator", func(t *testing.T) {
		agent.serve([]byte("page"), topics.DumpStart{Kind: topics.DumpKindFile, Size: 4}, okTrailer)
		page, _ := app.signedIn("opal", server.RoleOperator)
		res, body, err := fetch(t, page, "/hosts/"+agent.host.HostID+"/snapshots/latest/download?path=/srv/page.txt")
		if err != nil || res.StatusCode != http.StatusOK || string(body) != "page" {
			t.Fatalf("download from the page = %d %q %v", res.StatusCode, body, err)
		}
		agent.waitUpload()
	})
}

func TestDownloadDisposition(t *testing.T) {
	file := topics.DumpStart{Kind: topics.DumpKindFile}
	dir := topics.DumpStart{Kind: topics.DumpKindDir, Format: topics.DumpZip}
	for _, tc := range []struct {
		path  string
		start topics.DumpStart
		want  string
	}{
		{"/etc/hosts", file, `attachment; filename=hosts`},
		{"/home/ada/", dir, `attachment; filename=ada.zip`},
		{"/", dir, `attachment; filename=snapshot-0123abcd.zip`},
		{`C:\`, dir, `attachment; filename=snapshot-0123abcd-C.zip`},
		{`C:\Users\ada\notes.txt`, file, `attachment; filename=notes.txt`},
		{"/tmp/a \"quoted\" name", file, `attachment; filename="a _quoted_ name"`},
		{"/tmp/r\u00e9sum\u00e9.pdf", file, `attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf`},
		{"/tmp/" + strings.Repeat("\u00e9", 150), file, fmt.Sprintf(`attachment; filename*=utf-8''%s`, strings.Repeat("%C3%A9", 100))},
	} {
		got := downloadDisposition(server.DownloadRequest{Path: tc.path, Snapshot: "0123abcdef"}, tc.start)
		if got != tc.want {
			t.Errorf("%q: %s, want %s", tc.path, got, tc.want)
		}
	}
}

// streamHeld holds back the last chunk until the body ends cleanly, so a
// body that fails never reaches the browser whole.
func TestStreamHeldHoldsTheLastChunk(t *testing.T) {
	data := bytes.Repeat([]byte("z"), 3*downloadChunk+17)
	var out bytes.Buffer
	n, err := streamHeld(&out, http.NewResponseController(nil), &failingReader{r: bytes.NewReader(data), fail: errors.New("trailer says failed")})
	if err == nil || n >= int64(len(data)) || out.Len() != int(n) {
		t.Fatalf("a failing body: %d of %d bytes written, err %v", n, len(data), err)
	}
	out.Reset()
	n, err = streamHeld(&out, http.NewResponseController(nil), bytes.NewReader(data))
	if err != nil || n != int64(len(data)) || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("a clean body: %d of %d bytes, err %v", n, len(data), err)
	}
}

// failingReader reads r, then returns fail instead of io.EOF.
type failingReader struct {
	r    io.Reader
	fail error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.fail
	}
	return n, err
}
