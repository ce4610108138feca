package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/restic-manager/restic-manager/server"
)

// TestBrowserBrowseSnapshot (#14): from the host's snapshot list, Browse
// opens the snapshot's folder; clicking a folder row goes deeper (the
// breadcrumbs grow), where a file shows with its size, its Download link
// and its checkbox for a restore; the Download link, followed with the
// browser's own session, gives the file byte for byte under its name; the
// breadcrumb leads back up.
func TestBrowserBrowseSnapshot(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "browse-studio")
	src := filepath.Join(e.dir, "projects")
	if err := os.MkdirAll(filepath.Join(src, "logo", "drafts"), 0o755); err != nil {
		t.Fatal(err)
	}
	svg := strings.Repeat("<svg/>", 512)
	if err := os.WriteFile(filepath.Join(src, "logo", "final.svg"), []byte(svg), 0o644); err != nil {
		t.Fatal(err)
	}
	e.startAgent()
	if init := e.setReadyRepository(filepath.Join(e.dir, "repo"), repoPassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	backup := e.waitJob(e.runJob(map[string]any{"kind": "backup", "paths": []string{src}}), time.Minute)
	if backup.Status != "succeeded" {
		t.Fatalf("backup: %+v", backup)
	}
	waitFor(t, "the snapshot list", 20*time.Second, func() bool {
		l, err := e.m.Service().Snapshots(t.Context(), e.hostID)
		return err == nil && slices.ContainsFunc(l.Snapshots, func(s server.Snapshot) bool { return s.ID == backup.SnapshotID })
	})
	ctx := newBrowser(t)
	signIn(t, ctx, e.m)

	browse(t, ctx,
		chromedp.Navigate(e.m.HTTPURL()+"/hosts/"+e.hostID),
		chromedp.WaitVisible(`#snapshot-`+backup.SnapshotID[:8]+` a[href*="/tree?path="]`, chromedp.ByQuery),
		chromedp.Click(`#snapshot-`+backup.SnapshotID[:8]+` a[href*="/tree?path="]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#tree-table tr[data-name="logo"] a`, chromedp.ByQuery),
	)
	screenshot(t, ctx, "browse-root")
	browse(t, ctx,
		chromedp.Click(`#tree-table tr[data-name="logo"] a`, chromedp.ByQuery),
		chromedp.WaitVisible(`#tree-table tr[data-name="final.svg"]`, chromedp.ByQuery),
	)
	screenshot(t, ctx, "browse-folder")
	var crumbs, row, title string
	var download string
	var ok bool
	browse(t, ctx,
		chromedp.Text(`#tree-crumbs`, &crumbs, chromedp.ByQuery),
		chromedp.Text(`#tree-table tr[data-name="final.svg"]`, &row, chromedp.ByQuery),
		chromedp.Text(`#tree-title`, &title, chromedp.ByQuery),
		chromedp.AttributeValue(`#tree-table tr[data-name="final.svg"] a`, "href", &download, &ok, chromedp.ByQuery),
	)
	if !strings.HasSuffix(strings.TrimSpace(crumbs), "logo") || !strings.Contains(crumbs, "projects") {
		t.Errorf("breadcrumbs %q, want them to end in …/projects/logo", crumbs)
	}
	if !strings.Contains(row, "3.0 KiB") || !strings.Contains(row, "Download") {
		t.Errorf("file row %q, want its size and a Download link", row)
	}
	if !ok || !strings.Contains(download, "/download?path=") || !strings.Contains(download, "final.svg") {
		t.Errorf("download link %q", download)
	}
	// Download it as the browser does: the link's URL with the session's
	// cookie (a fetch from the page, so its body can be compared).
	var got struct {
		Status      int    `json:"status"`
		Disposition string `json:"disposition"`
		Body        string `json:"body"`
	}
	browse(t, ctx, chromedp.Evaluate(`(async () => {
		const r = await fetch(document.querySelector('#tree-table tr[data-name="final.svg"] a').href);
		return {status: r.status, disposition: r.headers.get('Content-Disposition') || '', body: await r.text()};
	})()`, &got, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if got.Status != 200 || got.Body != svg || !strings.Contains(got.Disposition, "final.svg") {
		t.Errorf("download from the page: status %d, disposition %q, %d bytes (want 200, final.svg, the %d source bytes)",
			got.Status, got.Disposition, len(got.Body), len(svg))
	}
	if !strings.Contains(title, "2 entries") {
		t.Errorf("folder title %q, want 2 entries (drafts and final.svg)", title)
	}
	var firstRow string
	browse(t, ctx, chromedp.Evaluate(`document.querySelector('#tree-table tbody tr').dataset.name`, &firstRow))
	if firstRow != "drafts" {
		t.Errorf("first row %q, want the folder drafts before the file", firstRow)
	}
	browse(t, ctx,
		chromedp.Click(`#tree-table tr[data-name="final.svg"] input[name=include]`, chromedp.ByQuery),
		chromedp.Click(`#tree-crumbs a:nth-last-of-type(2)`, chromedp.ByQuery),
		chromedp.WaitVisible(`#tree-table tr[data-name="logo"]`, chromedp.ByQuery),
	)
}
