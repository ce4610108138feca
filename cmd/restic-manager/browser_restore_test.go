package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserRestoreToAnotherHost (#14): from a snapshot's restore form
// (as the tree view opens it, with one checked file), restore that file
// onto another host, land on the job page and see it succeed; the file on
// the other host equals the one backed up.
func TestBrowserRestoreToAnotherHost(t *testing.T) {
	t.Parallel()
	src := newJobEnv(t, "office-pc")
	src.startAgent()
	if init := src.setReadyRepository(filepath.Join(src.dir, "repo"), sourcePassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	dst := src.enrollAnother("spare-pc", "")
	dst.startAgent()
	data := makeData(t, filepath.Join(src.dir, "invoices"), 3, 2<<10)
	backup := src.waitJob(src.runJob(map[string]any{"kind": "backup", "paths": []string{data}}), 60*time.Second)
	if backup.Status != "succeeded" {
		t.Fatalf("backup: %+v", backup)
	}
	src.waitSnapshotListed(backup.SnapshotID)
	file := filepath.Join(data, "d01", "f00001.bin")
	into := filepath.Join(dst.dir, "restored")
	if err := os.MkdirAll(into, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	signIn(t, ctx, src.m)

	browse(t, ctx,
		chromedp.Navigate(src.m.HTTPURL()+"/hosts/"+src.hostID+"/snapshots/"+backup.SnapshotID+"/restore?include="+file),
		chromedp.WaitVisible(`#restore-form`, chromedp.ByQuery),
	)
	var paths string
	browse(t, ctx, chromedp.Text(`#restore-paths`, &paths, chromedp.ByQuery))
	if !strings.Contains(paths, file) {
		t.Fatalf("the form lists %q, want %s", paths, file)
	}
	browse(t, ctx,
		chromedp.Click(`input[name=where][value=host]`, chromedp.ByQuery),
		chromedp.SetValue(`#restore-target-host`, dst.hostID, chromedp.ByQuery),
		chromedp.SendKeys(`#restore-target`, into, chromedp.ByQuery),
		chromedp.SetValue(`#restore-overwrite`, "if-newer", chromedp.ByQuery),
		chromedp.Click(`input[name=verify]`, chromedp.ByQuery),
	)
	screenshot(t, ctx, "restore-form")
	browse(t, ctx,
		chromedp.Click(`#restore-form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitReady(`#job-status`, chromedp.ByQuery),
	)
	waitJS(t, ctx, "the restore's job page says succeeded",
		`(document.querySelector('#job-status')?.textContent || '').toLowerCase().includes('succeeded')`, 60*time.Second)
	screenshot(t, ctx, "restore-job")
	var url string
	browse(t, ctx, chromedp.Location(&url))
	j := dst.latestJob("restore")
	if !strings.HasSuffix(url, "/jobs/"+itoa(j.ID)) || j.Status != "succeeded" {
		t.Fatalf("landed on %s; the target host's restore is %+v", url, j)
	}
	want, _ := os.ReadFile(file)
	got, err := os.ReadFile(filepath.Join(into, file))
	if err != nil || string(got) != string(want) {
		t.Fatalf("restored file: %v (equal: %v)", err, string(got) == string(want))
	}
	if others, _ := os.ReadDir(filepath.Join(into, data)); len(others) != 1 {
		t.Errorf("restored %d folders under the data, want only the checked file's", len(others))
	}
}
