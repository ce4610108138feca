package web

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// What a newcomer tripped over on the pages (#12 point 4), each on the real
// server with a real SQLite.

// getHX is get as HTMX asks for a part of a page.
func (c *client) getHX(path string) response {
	return c.do(http.MethodGet, path, nil, http.Header{"HX-Request": {"true"}})
}

// visibleText is a page's text as a person reads it: no tags, so no
// attribute (a title, a link) counts.
func visibleText(body string) string {
	body = regexp.MustCompile(`(?s)<script.*?</script>`).ReplaceAllString(body, " ")
	body = regexp.MustCompile(`</?(a|span|code|time|wbr|strong|em)\b[^>]*>`).ReplaceAllString(body, "") // inline: no gap
	return html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, " "))
}

// TestNewcomerRepositoryFormKeepsURL: a refused repository form comes back
// with the URL that was typed, and without the password and the backend
// environment; a URL that holds a password does not come back either.
func TestNewcomerRepositoryFormKeepsURL(t *testing.T) {
	app := newTestApp(t)
	admin, csrf := app.signedIn("root", server.RoleAdmin)
	host := app.onlineHost("office-pc")
	path := "/hosts/" + host.hostID + "/repository"

	res := admin.postForm(path, url.Values{"csrf_token": {csrf}, "url": {"/srv/restic/office-pc"}, "password": {""},
		"env": {"AWS_SECRET_ACCESS_KEY=" + testEnvSecret}})
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("no password: status %d", res.StatusCode)
	}
	mustContain(t, "refused form", res.body, "Enter the repository password", `value="/srv/restic/office-pc"`)
	if strings.Contains(res.body, testEnvSecret) {
		t.Error("the refused form shows the backend environment again")
	}

	res = admin.postForm(path, url.Values{"csrf_token": {csrf}, "url": {"/srv/restic/office-pc"}, "password": {testRepoPassword},
		"env": {"not a variable"}})
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad env: status %d", res.StatusCode)
	}
	mustContain(t, "refused env", res.body, "Line 1 of the backend environment", `value="/srv/restic/office-pc"`)
	if strings.Contains(res.body, testRepoPassword) {
		t.Error("the refused form shows the password again")
	}

	secretURL := "rest:https://backup:" + testURLSecret + "@rest.example.test/office"
	res = admin.postForm(path, url.Values{"csrf_token": {csrf}, "url": {secretURL}, "password": {""}})
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("secret url: status %d", res.StatusCode)
	}
	if strings.Contains(res.body, testURLSecret) || strings.Contains(res.body, "rest.example.test") {
		t.Error("a URL holding a password is filled in again")
	}
	mustContain(t, "refused form, secret URL", res.body, `id="repo-url" name="url" value=""`)
}

// TestNewcomerPendingHostsOpenedDirectly: /pending-hosts opened in the
// browser (not by HTMX) is the whole dashboard with its panel; HTMX still
// gets the panel's contents alone.
func TestNewcomerPendingHostsOpenedDirectly(t *testing.T) {
	app := newTestApp(t)
	admin, _ := app.signedIn("root", server.RoleAdmin)
	app.announce("till-9.shop.lan")

	page := admin.get("/pending-hosts")
	if page.StatusCode != http.StatusOK {
		t.Fatalf("status %d", page.StatusCode)
	}
	mustContain(t, "/pending-hosts opened directly", page.body, "<html", "</html>", `id="fleet"`, `id="pending"`, "Pending hosts", "till-9.shop.lan")
	if v := page.Header.Get("Vary"); !strings.Contains(v, "HX-Request") {
		t.Errorf("Vary %q: a cache could serve the fragment for the page", v)
	}

	frag := admin.getHX("/pending-hosts")
	mustContain(t, "HTMX fragment", frag.body, "Pending hosts", "till-9.shop.lan")
	if strings.Contains(frag.body, "<html") || strings.Contains(frag.body, `id="fleet"`) {
		t.Error("the HTMX fragment carries the whole page")
	}
}

// TestNewcomerPendingMatchSaysWhat: a waiting machine that matches an
// existing host says what matches: that host's name, or its OS hostname,
// and which host.
func TestNewcomerPendingMatchSaysWhat(t *testing.T) {
	app := newTestApp(t)
	admin, _ := app.signedIn("root", server.RoleAdmin)
	app.enrollHost("till-3") // OS hostname till-3.lan
	_, byHostname := app.announce("till-3.lan")
	_, byName := app.announce("TILL-3")
	_, none := app.announce("kiosk")

	body := admin.get("/").body
	item := func(id int64) string {
		t.Helper()
		m := regexp.MustCompile(fmt.Sprintf(`(?s)<li id="pending-%d".*?</li>`, id)).FindString(body)
		if m == "" {
			t.Fatalf("no pending item %d", id)
		}
		return strings.Join(strings.Fields(visibleText(m)), " ")
	}
	if got := item(byHostname); !strings.Contains(got, "Host till-3 has this OS hostname.") || strings.Contains(got, "already named") {
		t.Errorf("OS hostname match says: %s", got)
	}
	if got := item(byName); !strings.Contains(got, "A host is already named till-3.") || strings.Contains(got, "OS hostname") {
		t.Errorf("name match says: %s", got)
	}
	if got := item(none); strings.Contains(got, "matches an existing host") {
		t.Errorf("no match says: %s", got)
	}
	if strings.Contains(body, "name collides") {
		t.Error("the old flag that does not say what matches is still there")
	}
}

// TestNewcomerAPIErrorsSpeakToClients: a JSON 404 tells an API client where
// the routes are, not to go back to the dashboard; a field of the wrong type
// is named by its path in the body, never by a Go type.
func TestNewcomerAPIErrorsSpeakToClients(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ci", server.RoleAdmin)
	api := app.apiClient("ci")
	host := app.readyHost("web-1")

	res := api.get("/api/v1/no-such-thing")
	e := apiErrorOf(t, res)
	if res.StatusCode != http.StatusNotFound || strings.Contains(e.Message, "dashboard") || !strings.Contains(e.Message, "/api/v1/openapi.json") {
		t.Errorf("API 404: %d %q", res.StatusCode, e.Message)
	}
	if page := app.browser().get("/no-such-page"); page.StatusCode != http.StatusNotFound || !strings.Contains(page.body, "dashboard") {
		t.Errorf("page 404 lost its advice for a person: %d", page.StatusCode)
	}

	res = api.do(http.MethodPatch, "/api/v1/hosts", nil, nil)
	if e := apiErrorOf(t, res); res.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(e.Message, "/api/v1/openapi.json") {
		t.Errorf("API 405: %d %q", res.StatusCode, e.Message)
	}

	jobs := "/api/v1/hosts/" + host.hostID + "/jobs"
	for body, path := range map[string]string{
		`{"kind": "backup", "paths": "/etc"}`:                         `"paths"`,
		`{"kind": "forget", "retention": {"last": "seven"}}`:          `"retention.last"`,
		`{"kind": "backup", "paths": ["/etc"], "expires_in": [1, 2]}`: `expires_in`,
	} {
		res := api.postJSON(jobs, body)
		e := apiErrorOf(t, res)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(e.Message, path) || strings.Contains(e.Message, "JobSpec") {
			t.Errorf("%s: %d %q, want the field %s and no Go type", body, res.StatusCode, e.Message, path)
		}
	}
}

// TestJSONFieldPath: encoding/json's paths become the client's.
func TestJSONFieldPath(t *testing.T) {
	var req jobCreateRequest
	for in, want := range map[string]string{
		"JobSpec.paths":          "paths",
		"JobSpec.retention.last": "retention.last",
		"expires_in":             "expires_in",
		"source_group":           "source_group",
		"nothing.we.know":        "nothing.we.know",
	} {
		if got := jsonFieldPath(&req, in); got != want {
			t.Errorf("jsonFieldPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNewcomerPreviewMarked: a retention preview is a dry-run forget; the
// jobs list, the host page's recent jobs, the job page and the JSON say so,
// and a real forget is not marked.
func TestNewcomerPreviewMarked(t *testing.T) {
	app := newTestApp(t)
	admin, _ := app.signedIn("root", server.RoleAdmin)
	servertest.MustCreateUser(t, app.svc, "ci", server.RoleAdmin)
	api := app.apiClient("ci")
	f, g, _ := app.groupHost("office", false)
	preview, err := app.svc.PreviewRetention(t.Context(), server.CLIActor(), f.hostID, g.Key, topics.Retention{Daily: 3})
	requireNoError(t, err)
	real := f.queue(topics.JobSpec{Kind: topics.JobForget, Retention: &topics.Retention{Daily: 3}})

	row := func(body string, id int64) string {
		t.Helper()
		m := regexp.MustCompile(fmt.Sprintf(`(?s)<tr id="job-%d".*?</tr>`, id)).FindString(body)
		if m == "" {
			t.Fatalf("no row for job %d", id)
		}
		return visibleText(m)
	}
	for name, body := range map[string]string{"jobs page": admin.get("/jobs").body, "host page": admin.get("/hosts/" + f.hostID).body} {
		if r := row(body, preview.ID); !strings.Contains(r, "preview · dry run") || !strings.Contains(r, "removes nothing") {
			t.Errorf("%s: the preview's row does not say it is one: %s", name, strings.Join(strings.Fields(r), " "))
		}
		if r := row(body, real.ID); strings.Contains(r, "preview") || strings.Contains(r, "dry run") {
			t.Errorf("%s: a real forget is marked as a preview", name)
		}
	}
	page := admin.get(jobPath(preview.ID)).body
	mustContain(t, "preview's job page", visibleText(page), "preview · dry run", "Nothing was removed")
	if strings.Contains(visibleText(admin.get(jobPath(real.ID)).body), "dry run") {
		t.Error("a real forget's page says dry run")
	}

	for id, want := range map[int64]string{preview.ID: `"preview":true`, real.ID: `"preview":false`} {
		if res := api.get(fmt.Sprintf("/api/v1/jobs/%d", id)); !strings.Contains(res.body, want) {
			t.Errorf("job %d JSON lacks %s: %s", id, want, res.body)
		}
	}
	if list := api.get("/api/v1/jobs?host=" + f.hostID).body; !strings.Contains(list, `"preview":true`) {
		t.Errorf("the job list JSON does not mark the preview: %s", list)
	}
}

// TestNewcomerScheduledJobShowsNames: a job the agent started from a
// schedule shows the schedule in words and the source group by name; the
// log lines and the snapshot tag that carry ids show names, with the id
// only in a title.
func TestNewcomerScheduledJobShowsNames(t *testing.T) {
	app := newTestApp(t)
	admin, _ := app.signedIn("root", server.RoleAdmin)
	f, g, sc := app.groupHost("office", false)

	uid := topics.RandomID(topics.JobIDPrefix)
	slot := time.Now().UTC().Truncate(time.Minute)
	origin := &topics.JobOrigin{Schedule: sc.Key, ScheduledFor: slot, Spec: topics.JobSpec{Kind: topics.JobBackup,
		Paths: g.Paths, SourceGroup: g.Key, Tags: []string{topics.GroupTag(g.Key)}}}
	for v, st := range []topics.JobState{topics.JobDelivered, topics.JobRunning} {
		f.seq++
		f.send(topics.JobEventTopic(f.hostID, uid), &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, f.hostID),
			Seq: f.seq, Job: uid, Version: int64(v + 2), State: st, At: time.Now().UTC(), Origin: origin})
	}
	jobs, err := app.svc.ListJobs(t.Context(), server.JobFilter{HostID: f.hostID, Limit: 10})
	requireNoError(t, err)
	var job *server.Job
	for i := range jobs {
		if jobs[i].UID == uid {
			job = &jobs[i]
		}
	}
	if job == nil || job.ScheduleID != sc.ID {
		t.Fatalf("the scheduled run is not stored as the schedule's: %+v", jobs)
	}
	// A job page open while the lines arrive gets them named too, and its
	// header (re-rendered on each change) keeps the schedule's words.
	stream := admin.openEvents(fmt.Sprintf("/events?job=%d&after=0", job.ID))
	f.logLines(job, 1,
		fmt.Sprintf("started by schedule %s for the run due at %s", sc.Key, slot.Format(time.RFC3339)),
		fmt.Sprintf("forget after the backup: applying source group %s's retention to its snapshots (tag %s)", g.Key, topics.GroupTag(g.Key)))
	live := stream.next(sseJobLog).data
	if !strings.Contains(html.UnescapeString(live), `applying source group <span class="named-id" title="`+g.Key+`">“docs”</span>`) {
		t.Errorf("live log lines are not named: %s", live)
	}
	zero := 0
	f.state(job, topics.JobSucceeded, &topics.JobResult{ExitCode: &zero})
	if head := stream.next(sseJob).data; !strings.Contains(visibleText(head), "backup daily at 03:00") {
		t.Errorf("the live job header lost the schedule: %s", visibleText(head))
	}

	page := admin.get(jobPath(job.ID)).body
	text := strings.Join(strings.Fields(visibleText(page)), " ")
	mustContain(t, "scheduled job's page", text,
		"Started by schedule backup daily at 03:00", "Source group docs",
		"started by schedule “backup daily at 03:00", "applying source group “docs”'s retention to its snapshots (tag group “docs”)")
	if t.Failed() {
		t.Logf("page text: %s", text)
	}
	for _, id := range []string{g.Key, sc.Key, topics.GroupTag(g.Key)} {
		if strings.Contains(text, id) {
			t.Errorf("the job page shows the internal id %s: %s", id, text)
		}
	}
	mustContain(t, "scheduled job's page", page, `title="`+sc.Key+`"`, `title="`+topics.GroupTag(g.Key)+`"`,
		fmt.Sprintf(`href="/hosts/%s/source-groups/%d"`, f.hostID, g.ID))

	// The host's snapshot list: the group tag reads as the group.
	f.seq++
	f.send(topics.SnapshotsTopic(f.hostID), &topics.SnapshotReport{Envelope: topics.NewEnvelope(topics.TypeSnapshots, f.hostID),
		Seq: f.seq, Report: topics.NewMessageID(), Part: 1, Parts: 1, TakenAt: time.Now().UTC(),
		Snapshots: []topics.SnapshotInfo{{ID: strings.Repeat("ab", 32), Time: time.Now().UTC(), Hostname: "office",
			Paths: g.Paths, Tags: []string{topics.GroupTag(g.Key), "office"}}}})
	host := admin.get("/hosts/" + f.hostID).body
	snap := regexp.MustCompile(`(?s)<li class="[^"]*" id="snapshot-abababab">.*?</li>`).FindString(host)
	if snap == "" {
		t.Fatal("no snapshot in the host page")
	}
	mustContain(t, "snapshot tags", snap, `title="tag `+topics.GroupTag(g.Key)+`">group “docs”</span>`, `<span class="tag">office</span>`)
	if strings.Contains(visibleText(snap), g.Key) {
		t.Errorf("the snapshot shows the internal id: %s", visibleText(snap))
	}
}

// TestHostNamesInText: ids said in a sentence read as names, the id kept
// in a title; ids inside paths, unknown ids and everything else stay as
// they are, escaped.
func TestHostNamesInText(t *testing.T) {
	n := newHostNames([]server.SourceGroup{{Key: "sg_2", SourceGroupInput: server.SourceGroupInput{Name: "a<b"}}},
		[]server.Schedule{{ID: 3, Key: "sch_3", Kind: topics.JobBackup, Cron: "0 3 * * *"}})
	for in, want := range map[string]string{
		"started by schedule sch_3 for":              `started by schedule <span class="named-id" title="sch_3">“backup daily at 03:00 (UTC)”</span> for`,
		"group sg_2's retention (tag rm-group:sg_2)": `group <span class="named-id" title="sg_2">“a&lt;b”</span>&#39;s retention (tag <span class="named-id" title="rm-group:sg_2">group “a&lt;b”</span>)`,
		"sg_2":                  `<span class="named-id" title="sg_2">“a&lt;b”</span>`,
		"backup of /srv/sg_2/x": "backup of /srv/sg_2/x",
		"schedule sch_9 <gone>": "schedule sch_9 &lt;gone&gt;",
		"sg_22 and sg_2x":       "sg_22 and sg_2x",
	} {
		if got := n.html(in); got != want {
			t.Errorf("html(%q)\n got %s\nwant %s", in, got, want)
		}
	}
}
