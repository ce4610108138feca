package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// loadOpenAPI parses the embedded document and checks it is valid OpenAPI 3
// (kin-openapi's own validation: structure, references, schemas, examples),
// once per test process: the document is embedded and the tests only read it, and each
// load cost 0.6 s of CPU under -race.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openAPIOnce()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

var openAPIOnce = sync.OnceValues(func() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		return nil, fmt.Errorf("web/openapi.json does not load: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("web/openapi.json is not valid OpenAPI 3: %w", err)
	}
	return doc, nil
})

func TestOpenAPIIsValid(t *testing.T) {
	doc := loadOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q, want 3.x", doc.OpenAPI)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Summary == "" || len(op.Responses.Map()) == 0 {
				t.Errorf("%s %s: no summary or no responses", method, path)
			}
			// Every JSON refusal the operation lists is the error shape.
			for code, r := range op.Responses.Map() {
				if code[0] != '4' && code[0] != '5' || r.Value.Content.Get("application/json") == nil {
					continue
				}
				if s := r.Value.Content.Get("application/json").Schema; s.Value != doc.Components.Schemas["Error"].Value {
					t.Errorf("%s %s: response %s is not the Error schema", method, path, code)
				}
			}
		}
	}
}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z_]+)`)

// TestOpenAPIMatchesRouteTable: every /api/v1 route the running engine
// has is in the document, and every operation the document names is a
// route — so a route added without documentation, or documentation left
// behind by a removed route, fails here.
func TestOpenAPIMatchesRouteTable(t *testing.T) {
	doc := loadOpenAPI(t)
	app := newTestApp(t)

	routes := map[string]bool{}
	for _, r := range app.web.engine.Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1/") {
			continue
		}
		routes[r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	if len(routes) < 40 {
		t.Fatalf("only %d /api/v1 routes in the engine: the test is not reading the route table", len(routes))
	}
	for _, r := range sortedKeys(routes) {
		if !documented[r] {
			t.Errorf("route %s is not in web/openapi.json", r)
		}
	}
	for _, d := range sortedKeys(documented) {
		if !routes[d] {
			t.Errorf("web/openapi.json documents %s, which the route table does not have", d)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestOpenAPIServed: the document is served to anyone, as it is committed.
func TestOpenAPIServed(t *testing.T) {
	app := newTestApp(t)
	res := app.browser().get("/api/v1/openapi.json")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json without credentials: %d %s", res.StatusCode, res.body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	if !bytes.Equal([]byte(res.body), openAPIDocument) {
		t.Fatal("the served document is not web/openapi.json")
	}
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(res.body), &doc); err != nil || doc.Paths["/api/v1/openapi.json"] == nil {
		t.Fatalf("served document: %v (openapi %q)", err, doc.OpenAPI)
	}
}

// apiChecker validates real answers of the running server against the
// response schemas of the operations they answer.
type apiChecker struct {
	t       *testing.T
	doc     *openapi3.T
	checked map[string]bool // "METHOD /path status"
}

// check validates res, the answer to method on the documented path, and
// returns its decoded body.
func (c *apiChecker) check(method, path string, res response) any {
	c.t.Helper()
	item := c.doc.Paths.Find(path)
	if item == nil {
		c.t.Fatalf("%s is not documented", path)
	}
	op := item.GetOperation(method)
	if op == nil {
		c.t.Fatalf("%s %s is not documented", method, path)
	}
	code := strconv.Itoa(res.StatusCode)
	ref := op.Responses.Value(code)
	if ref == nil {
		c.t.Fatalf("%s %s answered %s, which the document does not list: %s", method, path, code, res.body)
	}
	c.checked[method+" "+path+" "+code] = true
	if len(ref.Value.Content) == 0 {
		if res.body != "" {
			c.t.Fatalf("%s %s %s: documented without a body, answered %q", method, path, code, res.body)
		}
		return nil
	}
	ct, _, _ := strings.Cut(res.Header.Get("Content-Type"), ";")
	media := ref.Value.Content.Get(ct)
	if media == nil {
		c.t.Fatalf("%s %s %s: Content-Type %q is not documented", method, path, code, ct)
	}
	if ct != "application/json" {
		return res.body
	}
	var v any
	if err := json.Unmarshal([]byte(res.body), &v); err != nil {
		c.t.Fatalf("%s %s %s: not JSON: %v", method, path, code, err)
	}
	if err := media.Schema.Value.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		c.t.Errorf("%s %s %s does not match its schema:\n%s\nbody: %s", method, path, code, schemaErrors(err), res.body)
	}
	return v
}

// checkRequest validates a body the server accepted against the
// operation's request schema.
func (c *apiChecker) checkRequest(method, path, body string) {
	c.t.Helper()
	op := c.doc.Paths.Find(path).GetOperation(method)
	if op.RequestBody == nil {
		if strings.TrimSpace(body) != "" {
			c.t.Errorf("%s %s took a body, but the document has none for it", method, path)
		}
		return
	}
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		c.t.Fatalf("%s %s: the test sent a body that is not JSON: %v", method, path, err)
	}
	schema := op.RequestBody.Value.Content.Get("application/json").Schema.Value
	if err := schema.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		c.t.Errorf("%s %s: the server took a body its documented request schema refuses:\n%s\nbody: %s", method, path, schemaErrors(err), body)
	}
}

// schemaErrors says where and why a value failed its schema, one line
// each, without kin-openapi's dump of the whole schema.
func schemaErrors(err error) string {
	var lines []string
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case openapi3.MultiError:
			for _, inner := range e {
				walk(inner)
			}
		case *openapi3.SchemaError:
			lines = append(lines, "  /"+strings.Join(e.JSONPointer(), "/")+": "+e.Reason)
		default:
			lines = append(lines, "  "+err.Error())
		}
	}
	walk(err)
	return strings.Join(lines, "\n")
}

// TestOpenAPIResponsesMatch: real answers of the real handlers, on a real
// store with a host that has a repository, jobs with results, snapshots,
// a source group and schedules, validate against the document. The
// schemas close their objects (additionalProperties: false), so a field
// added to an answer without documentation fails here too.
func TestOpenAPIResponsesMatch(t *testing.T) {
	doc := loadOpenAPI(t)
	c := &apiChecker{t: t, doc: doc, checked: map[string]bool{}}
	app := newTestApp(t)
	if _, err := app.svc.CreateUser(t.Context(), server.CLIActor(), "ada", server.RoleAdmin, "correct horse battery staple 9"); err != nil {
		t.Fatal(err)
	}
	api := app.apiClient("ada")

	agent := app.readyHost("office-pc")
	done := agent.backup()
	agent.logLines(done, 1, "open repository", "processed 3 files")
	agent.finish(done, topics.JobSucceeded, &topics.JobResult{
		SnapshotID: strings.Repeat("ab", 32), ResticVersion: "0.18.1", DurationMS: 3100, LogLines: 2,
		Backup: &topics.BackupSummary{FilesNew: 3, DataAdded: 4096, TotalFilesProcessed: 3, TotalBytesProcessed: 9000, TotalDuration: 3.1},
	})
	agent.reportSnapshots(2)
	running := agent.backup()
	agent.start(running)
	agent.progress(running, 40, 4, 10)
	app.enrollHost("never-connected")

	host, hosts := "/api/v1/hosts/{id}", "/api/v1/hosts/"+agent.hostID
	get := func(tmpl, path string) any { t.Helper(); return c.check(http.MethodGet, tmpl, api.get(path)) }
	send := func(method, tmpl, path, body string) any {
		t.Helper()
		res := api.do(method, path, strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
		if res.StatusCode < 300 {
			c.checkRequest(method, tmpl, body) // a body the server took is one the document allows
		}
		return c.check(method, tmpl, res)
	}
	// roundTrip GETs a resource and PUTs the answer back unchanged: the
	// document must allow a GET's answer as the PUT's body.
	roundTrip := func(tmpl, path string) {
		t.Helper()
		res := api.get(path)
		c.check(http.MethodGet, tmpl, res)
		send(http.MethodPut, tmpl, path, res.body)
	}

	get("/api/v1/hosts", "/api/v1/hosts")
	get("/api/v1/hosts", "/api/v1/hosts?tag=nobody:here")
	get("/api/v1/hosts", "/api/v1/hosts?tag=no%20such%20tag%21")
	get(host, hosts)
	get(host+"/repository", hosts+"/repository")
	get(host+"/snapshots", hosts+"/snapshots")
	get(host+"/stats", hosts+"/stats")
	get(host+"/stats", hosts+"/stats?days=7")
	get(host+"/hooks", hosts+"/hooks")
	get(host+"/upgrade", hosts+"/upgrade")
	get("/api/v1/jobs", "/api/v1/jobs")
	get("/api/v1/jobs", "/api/v1/jobs?status=succeeded&limit=1")
	get("/api/v1/jobs/{id}", fmt.Sprintf("/api/v1/jobs/%d", done.ID))
	get("/api/v1/jobs/{id}", fmt.Sprintf("/api/v1/jobs/%d", running.ID))
	get("/api/v1/jobs/{id}/log", fmt.Sprintf("/api/v1/jobs/%d/log", done.ID))
	get("/api/v1/users", "/api/v1/users")
	get("/api/v1/api-tokens", "/api/v1/api-tokens")
	get("/api/v1/pending-hosts", "/api/v1/pending-hosts")
	get("/api/v1/agents/bootstrap", "/api/v1/agents/bootstrap")

	// Source groups and schedules, made through the API itself.
	send(http.MethodPost, host+"/source-groups", hosts+"/source-groups",
		`{"name":"Documents","paths":["/home/ada/Documents"],"excludes":["*.tmp"],"tags":["docs"],
		  "retention":{"daily":7,"weekly":4},"forget_after_backup":true,"pre_hook":"echo hi"}`)
	send(http.MethodPost, host+"/schedules", hosts+"/schedules",
		`{"kind":"backup","source_group":"Documents","preset":"daily","time":"03:00","time_zone":"Europe/Berlin","jitter_seconds":600}`)
	send(http.MethodPost, host+"/schedules", hosts+"/schedules", `{"kind":"check","cron":"0 4 * * 0","read_data_subset":"1/10"}`)
	get(host+"/source-groups", hosts+"/source-groups")
	get(host+"/source-groups/{group}", hosts+"/source-groups/Documents")
	list, _ := get(host+"/schedules", hosts+"/schedules").(map[string]any)["schedules"].([]any)
	for _, sc := range list {
		b, _ := json.Marshal(sc)
		send(http.MethodPut, host+"/schedules/{sid}", fmt.Sprintf("%s/schedules/%v", hosts, sc.(map[string]any)["id"]), string(b))
	}
	roundTrip(host+"/source-groups/{group}", hosts+"/source-groups/Documents")
	roundTrip(host+"/hooks", hosts+"/hooks")
	roundTrip("/api/v1/users/{id}", "/api/v1/users/1")
	send(http.MethodPost, host+"/jobs", hosts+"/jobs", `{"kind":"backup","source_group":"Documents","bandwidth_up_kbps":512}`)

	// Machines waiting for approval.
	_, waiting := app.announce("laptop-7")
	_, other := app.announce("office-pc")
	get("/api/v1/pending-hosts", "/api/v1/pending-hosts")
	send(http.MethodPost, "/api/v1/pending-hosts/{id}/accept", fmt.Sprintf("/api/v1/pending-hosts/%d/accept", waiting), `{"name":"laptop-7"}`)
	send(http.MethodPost, "/api/v1/pending-hosts/{id}/reject", fmt.Sprintf("/api/v1/pending-hosts/%d/reject", other), "")
	send(http.MethodPut, host+"/bandwidth", hosts+"/bandwidth", `{"up_kbps":2048}`)
	send(http.MethodPost, host+"/jobs", hosts+"/jobs", `{"kind":"check","read_data_subset":"5%","expires_in":"6h"}`)

	// Users and tokens through the API.
	send(http.MethodPost, "/api/v1/users", "/api/v1/users", `{"name":"bob","role":"viewer","password":"another long password 7"}`)
	send(http.MethodPost, "/api/v1/api-tokens", "/api/v1/api-tokens", `{"user":"bob","label":"grafana"}`)
	enrollment := send(http.MethodPost, "/api/v1/enrollment-tokens", "/api/v1/enrollment-tokens", `{"host_name":"web-01","ttl":"2h"}`)
	token, _ := enrollment.(map[string]any)["token"].(string)
	agentBody := fmt.Sprintf(`{"token":%q,"hostname":"web-01.lan","os":"linux","arch":"arm64","agent_version":"1.0.0","restic_version":"0.18.1"}`, token)
	c.check(http.MethodPost, "/api/v1/agents/enroll", app.browser().postJSON("/api/v1/agents/enroll", agentBody))
	c.check(http.MethodPost, "/api/v1/agents/enroll", app.browser().postJSON("/api/v1/agents/enroll", agentBody)) // used: 409

	// Tags and fleet actions (#12.5).
	send(http.MethodPut, host+"/tags", hosts+"/tags", `{"tags":["site:lyon","Laptop"]}`)
	get("/api/v1/hosts", "/api/v1/hosts?tag=site:lyon")
	get("/api/v1/fleet/summary", "/api/v1/fleet/summary")
	get("/api/v1/fleet/summary", "/api/v1/fleet/summary?tag=site:lyon")
	get("/api/v1/fleet/summary", "/api/v1/fleet/summary?limit=5")
	send(http.MethodPost, "/api/v1/fleet/actions", "/api/v1/fleet/actions", `{"action":"check","tag":"site:lyon","read_data_subset":"1/20"}`)
	send(http.MethodPost, "/api/v1/fleet/actions", "/api/v1/fleet/actions",
		fmt.Sprintf(`{"action":"pause","hosts":[%q,"h_nosuchhost"]}`, agent.hostID))
	send(http.MethodPost, "/api/v1/fleet/actions", "/api/v1/fleet/actions", `{"action":"reboot","tag":"site:lyon"}`)

	// Health thresholds (#13).
	send(http.MethodPut, host+"/alerting", hosts+"/alerting", `{"overdue_after_seconds":7200,"offline_alert_after_seconds":null}`)
	get("/api/v1/settings/alerting", "/api/v1/settings/alerting")
	send(http.MethodPut, "/api/v1/settings/alerting", "/api/v1/settings/alerting", `{"overdue_after_seconds":93600,"offline_alert_after_seconds":86400}`)

	// Notifications and the monitor feed's settings (#13).
	ch, _ := send(http.MethodPost, "/api/v1/notification-channels", "/api/v1/notification-channels",
		`{"name":"ops","kind":"webhook","url":"https://hooks.example.test/rm","secret":"s3cret","events":["job.failed","host.overdue"],"tags":["site:lyon"],"throttle_minutes":30,"digest_hour":7}`).(map[string]any)
	chPath := fmt.Sprintf("/api/v1/notification-channels/%v", ch["id"])
	get("/api/v1/notification-channels", "/api/v1/notification-channels")
	roundTrip("/api/v1/notification-channels/{cid}", chPath)
	send(http.MethodPost, "/api/v1/notification-channels/{cid}/test", chPath+"/test", "")
	get("/api/v1/notification-deliveries", "/api/v1/notification-deliveries?state=pending&limit=5")
	roundTrip(host+"/notifications", hosts+"/notifications")
	send(http.MethodPut, host+"/notifications", hosts+"/notifications", `{"muted":true,"check_slug":"office-pc-backup"}`)
	roundTrip("/api/v1/settings/monitor", "/api/v1/settings/monitor")
	send(http.MethodDelete, "/api/v1/notification-channels/{cid}", chPath, "")

	// The changes, each answer against its operation.
	jobs := fmt.Sprintf("/api/v1/jobs/%d", running.ID)
	c.check(http.MethodPost, "/api/v1/jobs/{id}/cancel", api.postJSON(jobs+"/cancel", ""))
	c.check(http.MethodPost, "/api/v1/jobs/{id}/cancel", api.postJSON(fmt.Sprintf("/api/v1/jobs/%d/cancel", done.ID), "")) // finished: 409
	get("/api/v1/jobs/{id}/log", fmt.Sprintf("/api/v1/jobs/%d/log?after=1", done.ID))
	group := hosts + "/source-groups/Documents"
	send(http.MethodPut, host+"/source-groups/{group}", group,
		`{"name":"Documents","paths":["/home/ada/Documents","/home/ada/Pictures"],"retention":{"last":5}}`)
	send(http.MethodPost, host+"/source-groups/{group}/retention-preview", group+"/retention-preview", `{"retention":{"daily":3}}`)
	send(http.MethodPut, host+"/schedules/{sid}", hosts+"/schedules/2", `{"kind":"check","cron":"0 5 * * 0"}`)
	send(http.MethodPost, host+"/schedules/{sid}/pause", hosts+"/schedules/2/pause", "")
	send(http.MethodPost, host+"/schedules/{sid}/resume", hosts+"/schedules/sch_2/resume", "")
	send(http.MethodDelete, host+"/schedules/{sid}", hosts+"/schedules/2", "")
	send(http.MethodPut, host+"/hooks", hosts+"/hooks", `{"pre_hook":"echo start","hook_timeout_seconds":60}`)
	send(http.MethodPut, host+"/repository", hosts+"/repository",
		`{"url":"/srv/restic/office-pc","password":"a repository password","env":{}}`)
	send(http.MethodPost, host+"/repository/reinit", hosts+"/repository/reinit", `{"confirm":"office-pc"}`)
	send(http.MethodPost, host+"/upgrade", hosts+"/upgrade", "") // no build served: 409
	send(http.MethodPost, "/api/v1/agents/upgrade", "/api/v1/agents/upgrade", `{"outdated":true}`)
	send(http.MethodDelete, host+"/source-groups/{group}", group, "")
	bob := send(http.MethodPut, "/api/v1/users/{id}", "/api/v1/users/2", `{"role":"operator"}`)
	if id, _ := bob.(map[string]any)["id"].(float64); id != 2 {
		t.Fatalf("PUT /api/v1/users/2 answered %v", bob)
	}
	send(http.MethodPost, "/api/v1/users/{id}/password", "/api/v1/users/2/password", `{"password":"a brand new password 11"}`)
	send(http.MethodDelete, "/api/v1/users/{id}/totp", "/api/v1/users/2/totp", "")
	get("/api/v1/users/{id}", "/api/v1/users/2")
	send(http.MethodDelete, "/api/v1/api-tokens/{id}", "/api/v1/api-tokens/2", "")
	send(http.MethodDelete, "/api/v1/users/{id}", "/api/v1/users/2", "")
	send(http.MethodPost, "/api/v1/pending-hosts/reject", "/api/v1/pending-hosts/reject", `{"source_addr":"198.51.100.7"}`)
	send(http.MethodPost, "/api/v1/pending-hosts/{id}/reject", "/api/v1/pending-hosts/77/reject", "")
	send(http.MethodPost, host+"/revoke", hosts+"/revoke", `{"confirm":"office-pc"}`)

	// Refusals: the error shape, with the status its code implies.
	get(host, "/api/v1/hosts/h_nosuchhost")
	get("/api/v1/jobs", "/api/v1/jobs?status=sleeping")
	get("/api/v1/jobs/{id}", "/api/v1/jobs/999999")
	send(http.MethodPost, host+"/jobs", hosts+"/jobs", `{"kind":"backup","pathz":["/etc"]}`)
	send(http.MethodPost, "/api/v1/users", "/api/v1/users", `{"name":"ada","role":"viewer","password":"yet another password 5"}`)
	c.check(http.MethodGet, "/api/v1/hosts", app.browser().get("/api/v1/hosts"))
	if _, err := app.svc.CreateUser(t.Context(), server.CLIActor(), "cy", server.RoleViewer, "correct horse battery staple 8"); err != nil {
		t.Fatal(err)
	}
	viewer := app.apiClient("cy")
	c.check(http.MethodGet, "/api/v1/users", viewer.get("/api/v1/users"))

	for _, want := range []string{
		"GET /api/v1/hosts 200", "GET /api/v1/hosts/{id} 200", "GET /api/v1/jobs 200", "GET /api/v1/jobs/{id} 200",
		"GET /api/v1/hosts/{id}/source-groups 200", "GET /api/v1/hosts/{id}/schedules 200", "GET /api/v1/users 200",
		"GET /api/v1/hosts/{id} 404", "GET /api/v1/jobs 400", "GET /api/v1/hosts 401", "GET /api/v1/users 403",
		"POST /api/v1/users 409", "POST /api/v1/agents/enroll 200", "POST /api/v1/agents/enroll 409",
		"POST /api/v1/jobs/{id}/cancel 200", "POST /api/v1/jobs/{id}/cancel 409", "DELETE /api/v1/users/{id} 204",
		"POST /api/v1/hosts/{id}/revoke 200", "POST /api/v1/hosts/{id}/upgrade 409",
		"PUT /api/v1/hosts/{id}/source-groups/{group} 200", "PUT /api/v1/hosts/{id}/schedules/{sid} 200", "PUT /api/v1/users/{id} 200", "PUT /api/v1/hosts/{id}/hooks 200",
		"POST /api/v1/pending-hosts/{id}/accept 200", "POST /api/v1/pending-hosts/{id}/reject 200",
		"GET /api/v1/hosts/{id}/stats 200", "PUT /api/v1/hosts/{id}/alerting 200", "GET /api/v1/settings/alerting 200", "PUT /api/v1/settings/alerting 200",
		"POST /api/v1/notification-channels 201", "PUT /api/v1/notification-channels/{cid} 200",
		"POST /api/v1/notification-channels/{cid}/test 202", "GET /api/v1/notification-deliveries 200",
		"PUT /api/v1/hosts/{id}/notifications 200", "PUT /api/v1/settings/monitor 200",
		"PUT /api/v1/hosts/{id}/tags 200", "POST /api/v1/fleet/actions 200", "POST /api/v1/fleet/actions 400", "GET /api/v1/hosts 400",
		"GET /api/v1/fleet/summary 200", "GET /api/v1/fleet/summary 400",
	} {
		if !c.checked[want] {
			t.Errorf("no answer %s was checked", want)
		}
	}
}
