package web

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// browseSnap is the snapshot the answering agent knows.
var browseSnap = strings.Repeat("5e", 32)

// browsableHost is an online host whose agent answers queries the way the
// real one does, through the server's real inbound path (HandleMessage),
// synchronously while the query is published: a folder of 1,200 entries
// (/srv: folders a-dir and b-dir, then files), one match, one diff. The
// real agent's answers are end-to-end tests (cmd/restic-manager).
func (a *testApp) browsableHost(name string) *fakeAgent {
	a.t.Helper()
	f := a.onlineHost(name)
	a.pub.SetHook(func(m servertest.PublishedMessage) {
		if !strings.HasSuffix(m.Topic, "/down/query") {
			return
		}
		var q topics.Query
		if err := topics.Decode(m.Payload, &q); err != nil {
			a.t.Errorf("the server published an invalid query: %v", err)
			return
		}
		r := &topics.Reply{Envelope: topics.NewEnvelope(topics.TypeReply, q.Host), Request: q.ID, Op: q.Op}
		mtime := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		switch {
		case q.Op == topics.QueryLs && q.Path == "/srv":
			all := []topics.TreeEntry{{Name: "a-dir", Type: "dir", MTime: mtime}, {Name: "b-dir", Type: "dir", MTime: mtime}}
			for i := range 1198 {
				all = append(all, topics.TreeEntry{Name: fmt.Sprintf("f%04d.txt", i), Type: "file", Size: 2048, MTime: mtime})
			}
			from := min(q.Page*topics.TreePageSize, len(all))
			r.Tree = &topics.TreePage{Path: q.Path, Page: q.Page, PageSize: topics.TreePageSize, Total: len(all),
				Entries: all[from:min(from+topics.TreePageSize, len(all))]}
		case q.Op == topics.QueryLs:
			r.Error, r.ErrorKind = "there is no folder "+q.Path+" in this snapshot.", topics.ReplyErrNotFound
		case q.Op == topics.QueryFind:
			r.Find = &topics.FindResult{Matches: []topics.FindMatch{{Snapshot: browseSnap, Path: "/srv/a-dir/report.pdf", Type: "file", Size: 4096, MTime: mtime}}}
		case q.Op == topics.QueryDiff:
			r.Diff = &topics.DiffResult{Changes: []topics.DiffChange{{Path: "/srv/new.txt", Modifier: "+"}, {Path: "/srv/old.txt", Modifier: "-"},
				{Path: "/srv/f0001.txt", Modifier: "M"}}, Stats: &topics.DiffStats{ChangedFiles: 1,
				Added: topics.DiffCounted{Files: 1, Bytes: 3 << 20}, Removed: topics.DiffCounted{Files: 1, Bytes: 1024}}}
		}
		b, err := topics.Encode(r)
		if err != nil {
			a.t.Errorf("encode reply: %v", err)
			return
		}
		a.svc.HandleMessage(topics.ReplyTopic(q.Host), b, q.Host, 1)
	})
	return f
}

func browseRoleCases() []roleCase {
	return []roleCase{
		{http.MethodGet, "/hosts/:id/snapshots/:snap/tree", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/hosts/" + app.browsableHost(fmt.Sprintf("browse-%d", n)).hostID + "/snapshots/" + browseSnap + "/tree?path=/srv")
		}},
		{http.MethodGet, "/hosts/:id/snapshots/find", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/hosts/" + app.browsableHost(fmt.Sprintf("find-%d", n)).hostID + "/snapshots/find?pattern=*.pdf")
		}},
		{http.MethodGet, "/hosts/:id/snapshots/diff", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/hosts/" + app.enrollHost(fmt.Sprintf("pick-%d", n)).HostID + "/snapshots/diff")
		}},
		{http.MethodGet, "/hosts/:id/snapshots/:snap/diff/:other", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/hosts/" + app.browsableHost(fmt.Sprintf("diff-%d", n)).hostID + "/snapshots/0123abcd/diff/" + browseSnap)
		}},
		{http.MethodGet, "/api/v1/hosts/:id/snapshots/:snap/tree", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/api/v1/hosts/" + app.browsableHost(fmt.Sprintf("api-browse-%d", n)).hostID + "/snapshots/latest/tree?path=/srv&page=2")
		}},
		{http.MethodGet, "/api/v1/hosts/:id/snapshots/find", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/api/v1/hosts/" + app.browsableHost(fmt.Sprintf("api-find-%d", n)).hostID + "/snapshots/find?pattern=report.pdf")
		}},
		{http.MethodGet, "/api/v1/hosts/:id/snapshots/:snap/diff/:other", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/api/v1/hosts/" + app.browsableHost(fmt.Sprintf("api-diff-%d", n)).hostID + "/snapshots/0123abcd/diff/" + browseSnap)
		}},
	}
}

// TestSnapshotBrowseAPI: the three routes answer what the agent said, in
// the shapes the document declares; an offline host is 409 host_offline,
// a bad page 400, a folder the snapshot lacks 404 with the agent's words.
func TestSnapshotBrowseAPI(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "vera", server.RoleViewer)
	api := app.apiClient("vera")
	c := &apiChecker{t: t, doc: loadOpenAPI(t), checked: map[string]bool{}}
	host := app.browsableHost("files-01")
	base := "/api/v1/hosts/" + host.hostID + "/snapshots"
	const treeT, findT, diffT = "/api/v1/hosts/{id}/snapshots/{snap}/tree", "/api/v1/hosts/{id}/snapshots/find", "/api/v1/hosts/{id}/snapshots/{snap}/diff/{other}"

	last, _ := c.check(http.MethodGet, treeT, api.get(base+"/"+browseSnap+"/tree?path=/srv&page=2")).(map[string]any)
	if entries, _ := last["entries"].([]any); last["total"] != float64(1200) || len(entries) != 200 {
		t.Errorf("page 2 = total %v, %d entries; want 200 of 1200", last["total"], len(entries))
	}
	found, _ := c.check(http.MethodGet, findT, api.get(base+"/find?pattern=report.pdf")).(map[string]any)
	if m, _ := found["matches"].([]any); len(m) != 1 {
		t.Errorf("find = %v", found)
	}
	diff, _ := c.check(http.MethodGet, diffT, api.get(base+"/0123abcd/diff/"+browseSnap)).(map[string]any)
	if ch, _ := diff["changes"].([]any); len(ch) != 3 || diff["stats"] == nil {
		t.Errorf("diff = %v", diff)
	}

	for _, bad := range []struct {
		tmpl, path string
		status     int
		code       server.ErrorCode
	}{
		{treeT, base + "/" + browseSnap + "/tree?path=/srv&page=two", 400, server.CodeInvalid},
		{treeT, base + "/" + browseSnap + "/tree?path=/srv&page=-1", 400, server.CodeInvalid},
		{treeT, base + "/" + browseSnap + "/tree?path=srv", 400, server.CodeInvalid},
		{treeT, base + "/nothex/tree?path=/srv", 400, server.CodeInvalid},
		{findT, base + "/find?pattern=", 400, server.CodeInvalid},
		{diffT, base + "/latest/diff/" + browseSnap, 400, server.CodeInvalid},
		{treeT, base + "/" + browseSnap + "/tree?path=/gone", 404, server.CodeNotFound},
	} {
		res := api.get(bad.path)
		c.check(http.MethodGet, bad.tmpl, res)
		if res.StatusCode != bad.status || apiErrorOf(t, res).Error != bad.code {
			t.Errorf("GET %s = %d %s, want %d %s", bad.path, res.StatusCode, res.body, bad.status, bad.code)
		}
	}
	if res := api.get(base + "/" + browseSnap + "/tree?path=/gone"); !strings.Contains(apiErrorOf(t, res).Message, "no folder /gone") {
		t.Errorf("404 does not carry the agent's sentence: %s", res.body)
	}

	app.svc.Presence().Disconnected(host.hostID, 1)
	for tmpl, path := range map[string]string{treeT: base + "/latest/tree", findT: base + "/find?pattern=x", diffT: base + "/0123abcd/diff/0123abce"} {
		res := api.get(path)
		c.check(http.MethodGet, tmpl, res)
		if res.StatusCode != http.StatusConflict || apiErrorOf(t, res).Error != server.CodeHostOffline {
			t.Errorf("offline host: GET %s = %d %s, want 409 host_offline", path, res.StatusCode, res.body)
		}
	}
}

// TestSnapshotTreePage: the folder page has breadcrumbs, folders first
// linking deeper, sizes, a pager, download links and checkboxes inside
// the restore form (for an operator; a viewer sees names only); the host
// page links to it; an offline host says so.
func TestSnapshotTreePage(t *testing.T) {
	app := newTestApp(t)
	host := app.browsableHost("files-02")
	host.reportSnapshots(2)
	op, _ := app.signedIn("otto", server.RoleOperator)
	viewer, _ := app.signedIn("vic", server.RoleViewer)

	hostPage := op.get("/hosts/" + host.hostID)
	for _, want := range []string{"/snapshots/find", "Compare with previous", "/tree?path="} {
		if !strings.Contains(hostPage.body, want) {
			t.Errorf("host page lacks %q", want)
		}
	}
	tree := "/hosts/" + host.hostID + "/snapshots/" + browseSnap + "/tree?path=/srv"
	res := op.get(tree)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("tree page: %d\n%s", res.StatusCode, res.body)
	}
	for _, want := range []string{
		`<a class="link" href="/hosts/` + host.hostID + `/snapshots/` + browseSnap + `/tree?path=%2Fsrv">srv</a>`, // breadcrumb
		`href="/hosts/` + host.hostID + `/snapshots/` + browseSnap + `/tree?path=%2Fsrv%2Fa-dir">a-dir/</a>`,      // folder row
		`/download?path=%2Fsrv%2Ff0000.txt"`, `/download?path=%2Fsrv%2Fa-dir&amp;format=tar.gz"`, `format=zip"`,
		`name="include" value="/srv/f0000.txt"`, `action="/hosts/` + host.hostID + `/snapshots/` + browseSnap + `/restore"`,
		"Restore selected", "2.0 KiB", "page 1 of 3", `rel="next"`,
	} {
		if !strings.Contains(res.body, want) {
			t.Errorf("tree page lacks %s", want)
		}
	}
	if i, j := strings.Index(res.body, "b-dir/"), strings.Index(res.body, "f0000.txt"); i < 0 || j < i {
		t.Error("folders are not listed before files")
	}
	if page3 := op.get(tree + "&page=2"); !strings.Contains(page3.body, "page 3 of 3") || !strings.Contains(page3.body, "f1197.txt") ||
		strings.Contains(page3.body, `rel="next"`) {
		t.Errorf("last page: no 3 of 3, last file or a next link too many")
	}
	if v := viewer.get(tree); v.StatusCode != http.StatusOK || strings.Contains(v.body, "/download?") || strings.Contains(v.body, `name="include"`) {
		t.Errorf("a viewer's tree page: %d, offers downloads or restore", v.StatusCode)
	}
	if missing := op.get("/hosts/" + host.hostID + "/snapshots/" + browseSnap + "/tree?path=/gone"); missing.StatusCode != http.StatusNotFound ||
		!strings.Contains(missing.body, "no folder /gone") {
		t.Errorf("missing folder: %d", missing.StatusCode)
	}
	find := op.get("/hosts/" + host.hostID + "/snapshots/find?pattern=report.pdf")
	if !strings.Contains(find.body, "/srv/a-dir/report.pdf") || !strings.Contains(find.body, "tree?path=%2Fsrv%2Fa-dir") {
		t.Errorf("find page lacks the match linking to its folder:\n%s", find.body)
	}
	diff := op.get("/hosts/" + host.hostID + "/snapshots/0123abcd/diff/" + browseSnap)
	for _, want := range []string{"/srv/new.txt", "/srv/old.txt", "/srv/f0001.txt", "3.0 MiB", "(content)"} {
		if !strings.Contains(diff.body, want) {
			t.Errorf("diff page lacks %q", want)
		}
	}
	if pick := op.get("/hosts/" + host.hostID + "/snapshots/diff?a=0123abcd&b=" + browseSnap); pick.StatusCode != http.StatusSeeOther ||
		pick.Header.Get("Location") != "/hosts/"+host.hostID+"/snapshots/0123abcd/diff/"+browseSnap {
		t.Errorf("the pickers' form: %d to %q", pick.StatusCode, pick.Header.Get("Location"))
	}

	app.svc.Presence().Disconnected(host.hostID, 1)
	off := op.get(tree)
	if off.StatusCode != http.StatusConflict || !strings.Contains(off.body, "This host is offline") {
		t.Errorf("offline host: %d, no offline message", off.StatusCode)
	}
}
