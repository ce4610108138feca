package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

var linkNext = regexp.MustCompile(`^<(/api/v1/hosts\?[^>]+)>; rel="next"$`)

// TestAPIHostsPages: GET /api/v1/hosts pages by name, limit at a time;
// following next_cursor or the Link header (which keeps the filter)
// lists every host once; the last page has next_cursor null and no Link.
// A viewer may list.
func TestAPIHostsPages(t *testing.T) {
	app := newTestApp(t)
	var want, lyon []string
	for i := range 7 {
		name := fmt.Sprintf("pc-%02d", i)
		h := app.enrollHost(name)
		want = append(want, name)
		if i%2 == 0 {
			lyon = append(lyon, name)
			if _, err := app.svc.SetHostTags(t.Context(), server.CLIActor(), h.HostID, []string{"site:lyon"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	app.signedIn("vic", server.RoleViewer)
	api := app.apiClient("vic")
	follow := func(path string, viaLink bool) ([]string, int) {
		var names []string
		pages := 0
		for path != "" {
			res := api.get(path)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %s", path, res.StatusCode, res.body)
			}
			var page struct {
				Hosts      []server.Host `json:"hosts"`
				NextCursor *string       `json:"next_cursor"`
			}
			if err := json.Unmarshal([]byte(res.body), &page); err != nil {
				t.Fatal(err)
			}
			pages++
			for _, h := range page.Hosts {
				names = append(names, h.Name)
			}
			link := res.Header.Get("Link")
			if (page.NextCursor == nil) != (link == "") {
				t.Fatalf("%s: next_cursor %v but Link %q", path, page.NextCursor, link)
			}
			path = ""
			if page.NextCursor == nil {
				break
			}
			m := linkNext.FindStringSubmatch(link)
			if m == nil {
				t.Fatalf("Link %q is not rel=next to /api/v1/hosts", link)
			}
			u, _ := url.Parse(m[1])
			if u.Query().Get("cursor") != *page.NextCursor {
				t.Fatalf("Link %q does not carry next_cursor %q", link, *page.NextCursor)
			}
			if viaLink {
				path = m[1]
			} else {
				path = "/api/v1/hosts?limit=3&cursor=" + url.QueryEscape(*page.NextCursor)
			}
		}
		return names, pages
	}
	if got, pages := follow("/api/v1/hosts?limit=3", false); !slices.Equal(got, want) || pages != 3 {
		t.Errorf("by next_cursor: %v in %d pages, want %v in 3", got, pages, want)
	}
	if got, pages := follow("/api/v1/hosts?limit=2&tag=Site:Lyon", true); !slices.Equal(got, lyon) || pages != 2 {
		t.Errorf("by Link with a tag: %v in %d pages, want %v in 2", got, pages, lyon)
	}
	if got, _ := follow("/api/v1/hosts?q=PC-0&state=offline&health=pending&os=linux", true); !slices.Equal(got, want) {
		t.Errorf("every filter at once: %v", got)
	}
}

// TestAPIHostsRefusesBadParameters: every malformed or unknown query
// parameter is a 400 invalid with one sentence naming it.
func TestAPIHostsRefusesBadParameters(t *testing.T) {
	app := newTestApp(t)
	app.enrollHost("pc-1")
	app.signedIn("vic", server.RoleViewer)
	api := app.apiClient("vic")
	for query, want := range map[string]string{
		"limit=0":                       "page size (limit)",
		"limit=ten":                     "page size (limit)",
		"limit=501":                     "page size (limit)",
		"cursor=%21%21":                 "cursor",
		"state=asleep":                  "state filter",
		"health=great":                  "health filter",
		"tag=a%20b":                     "ag",
		"os=lin%20ux":                   "OS filter",
		"q=" + strings.Repeat("x", 101): "search text (q)",
		"after=abc":                     `Unknown parameter "after"`,
		"tag=a&tag=b":                   "tag once",
	} {
		res := api.get("/api/v1/hosts?" + query)
		e := apiErrorOf(t, res)
		if res.StatusCode != http.StatusBadRequest || e.Error != server.CodeInvalid || !strings.Contains(e.Message, want) {
			t.Errorf("%s: %d %+v, want 400 invalid naming %q", query, res.StatusCode, e, want)
		}
	}
}

// TestDashboardPages: the dashboard shows one page of the filtered fleet
// with a link to the next (the filter kept in it) and back to the first;
// the summary counts the whole fleet, the selection bar offers every host
// matching; a malformed filter shows the whole fleet with the sentence.
func TestDashboardPages(t *testing.T) {
	app := newTestApp(t)
	for i := range 5 {
		h := app.enrollHost(fmt.Sprintf("pc-%02d", i))
		if _, err := app.svc.SetHostTags(t.Context(), server.CLIActor(), h.HostID, []string{"office"}); err != nil {
			t.Fatal(err)
		}
	}
	app.enrollHost("zz-other")
	op, _ := app.signedIn("otto", server.RoleOperator)
	first := op.get("/?tag=office&limit=2")
	mustContain(t, "first page", first.body, "5 of 6 hosts match this filter", "this page shows 2, pc-00 to pc-01, by name",
		`Select all <strong>5</strong> hosts matching this filter`, `name="filter_tag" value="office"`, `id="page-next"`)
	next := regexp.MustCompile(`id="page-next" href="([^"]+)"`).FindStringSubmatch(first.body)
	if next == nil || strings.Contains(first.body, `id="page-first"`) {
		t.Fatalf("first page's links: %v", next)
	}
	href := strings.ReplaceAll(next[1], "&amp;", "&")
	second := op.get(href)
	mustContain(t, "second page", second.body, "this page shows 2, pc-02 to pc-03", `id="page-first" href="/?limit=2&tag=office"`, `id="page-next"`)
	if strings.Contains(second.body, ">pc-01<") || strings.Contains(second.body, "zz-other") {
		t.Error("the second page shows a host of the first page or one the filter hides")
	}
	bad := op.get("/?health=great")
	if bad.StatusCode != http.StatusBadRequest {
		t.Errorf("bad filter: %d", bad.StatusCode)
	}
	mustContain(t, "bad filter", bad.body, "The health filter is ok, overdue, failing, offline or pending", "zz-other", "6 hosts")
	viewer, _ := app.signedIn("vic", server.RoleViewer)
	if body := viewer.get("/?tag=office").body; !strings.Contains(body, "5 of 6 hosts match") || strings.Contains(body, `id="fleet-selection"`) {
		t.Error("a viewer does not see the filtered page, or is offered the selection")
	}
}

// TestStoredHealthRereadsFleetPages: when a host's stored health word
// changes (its backup failed), open fleet pages are told to re-read
// themselves, so a dashboard filtered by health gains the host without a
// reload; the filtered page then lists it.
func TestStoredHealthRereadsFleetPages(t *testing.T) {
	app := newTestApp(t)
	app.runService()
	b, _ := app.signedIn("val", server.RoleViewer)
	host := app.readyHost("web-01")
	if body := b.get("/?health=failing").body; strings.Contains(body, `id="host-`+host.hostID+`"`) {
		t.Fatal("web-01 is failing before its backup failed")
	}
	fleet := b.openEvents("/events")
	host.finish(host.start(host.backup()), topics.JobFailed, nil)
	fleet.next(sseFleetChanged)
	if body := b.get("/?health=failing").body; !strings.Contains(body, `id="host-`+host.hostID+`"`) {
		t.Error("the dashboard filtered by failing lacks web-01 once it was told to re-read")
	}
}
