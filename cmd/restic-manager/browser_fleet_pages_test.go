package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// TestBrowserFleetPages (#15): the dashboard filters and pages in Chromium
// — the filter form and the page links swap the table and keep the filter
// in the address bar; a host on the second page turns online live; "Select
// all N matching" acts on every host of the filter, not the page shown.
func TestBrowserFleetPages(t *testing.T) {
	t.Parallel()
	m := startServer(t, filepath.Join(t.TempDir(), "data"), "127.0.0.1:0")
	s := m.Service()
	ids := map[string]string{}
	for i := range 7 {
		name := fmt.Sprintf("pc-%02d", i)
		ids[name] = servertest.EnrollHost(t, s, name)
		if i%2 == 0 {
			if _, err := s.SetHostTags(t.Context(), server.CLIActor(), ids[name], []string{"site:lyon"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	rows := `[...document.querySelectorAll('#host-rows tr[id^="host-"] a[href^="/hosts/"]')].map(a => a.textContent.trim()).join(' ')`

	ctx := newBrowser(t)
	signIn(t, ctx, m)
	browse(t, ctx, chromedp.Navigate(m.HTTPURL()+"/?limit=2"), chromedp.WaitVisible(`#host-filter`, chromedp.ByQuery))
	waitJS(t, ctx, "the first page of everything", rows+` === 'pc-00 pc-01' && document.querySelector('#page-next') !== null`, 10*time.Second)

	// Filter by tag with the form: the table swaps, the URL keeps it.
	browse(t, ctx,
		chromedp.SetValue(`#tag`, "site:lyon", chromedp.ByQuery),
		chromedp.Click(`#host-filter button[type=submit]`, chromedp.ByQuery),
	)
	waitJS(t, ctx, "the lyon filter's first page, in the URL",
		rows+` === 'pc-00 pc-02' && new URLSearchParams(location.search).get('tag') === 'site:lyon' && location.search.includes('limit=2')`+
			` && document.querySelector('#host-count').textContent.includes('4 of 7 hosts match this filter')`, 10*time.Second)

	// The next page, through its link.
	browse(t, ctx, chromedp.Click(`#page-next`, chromedp.ByQuery))
	waitJS(t, ctx, "the lyon filter's second page", rows+` === 'pc-04 pc-06' && location.search.includes('cursor=')`+
		` && new URLSearchParams(location.search).get('tag') === 'site:lyon' && document.querySelector('#page-first') !== null`+
		` && document.querySelector('#page-next') === null`, 10*time.Second)
	screenshot(t, ctx, "fleet-pages-second")

	// Live: pc-04 connects and its row says so without a reload.
	row := `document.querySelector('#host-` + ids["pc-04"] + `')`
	waitJS(t, ctx, "pc-04 never connected", row+`?.textContent.includes('never connected')`, 10*time.Second)
	servertest.NewHostAgent(s, ids["pc-04"]).Connect(t, 1)
	waitJS(t, ctx, "pc-04 online, live", row+`?.textContent.includes('online')`, 15*time.Second)

	// A reload of the shared URL shows the same page.
	browse(t, ctx, chromedp.Reload())
	waitJS(t, ctx, "the same page after a reload", rows+` === 'pc-04 pc-06'`, 10*time.Second)

	// Select all 4 matching (two of them on the other page) and act.
	browse(t, ctx,
		chromedp.Click(`#fleet-target-filter`, chromedp.ByQuery),
		chromedp.Click(`#fleet-form button[value="pause"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#fleet-result-card`, chromedp.ByQuery),
	)
	waitJS(t, ctx, "the action on all four lyon hosts",
		`document.querySelector('#fleet-result-title').textContent.includes('Pause schedules on 4 host(s)')`+
			` && document.querySelectorAll('#fleet-result-card [id^="fleet-refused-"]').length === 4`+
			` && document.querySelector('#fleet-refused-`+ids["pc-00"]+`') !== null && document.querySelector('#fleet-refused-`+ids["pc-01"]+`') === null`,
		10*time.Second)
	screenshot(t, ctx, "fleet-pages-select-all")
}
