package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

const hookBannerText = "This runs as the agent's service user — root on Linux, LocalSystem on Windows."

func (c *client) putJSON(path, body string) response {
	return c.do(http.MethodPut, path, strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
}

// hooksJSON is a hook set as the API shows it; the bodies are pointers so
// that an absent key is told from "".
type hooksJSON struct {
	PreHook     *string `json:"pre_hook"`
	PostHook    *string `json:"post_hook"`
	HasPreHook  bool    `json:"has_pre_hook"`
	HasPostHook bool    `json:"has_post_hook"`
	Timeout     int     `json:"hook_timeout_seconds"`
}

func decodeHooks(t *testing.T, r response) hooksJSON {
	t.Helper()
	var h hooksJSON
	if err := json.Unmarshal([]byte(r.body), &h); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	return h
}

// TestHooksAPI (#10): source group bodies and /hosts/{id}/hooks take
// pre_hook and post_hook (a string sets, "" or null clears, absent keeps);
// only admins read or set bodies: operators see has_pre_hook without the
// body and get 403 on a change; bad bodies are refused with one sentence
// and store nothing.
func TestHooksAPI(t *testing.T) {
	a := newTestApp(t)
	f := a.readyHost("db-1")
	servertest.MustCreateUser(t, a.svc, "ada", server.RoleAdmin)
	servertest.MustCreateUser(t, a.svc, "otto", server.RoleOperator)
	admin, op := a.apiClient("ada"), a.apiClient("otto")
	groups := "/api/v1/hosts/" + f.hostID + "/source-groups"

	r := admin.postJSON(groups, `{"name":"db","paths":["/var/lib/db"],"pre_hook":"pg_dump mydb > /tmp/db.sql","hook_timeout_seconds":120}`)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create with hooks: %d %s", r.StatusCode, r.body)
	}
	if h := decodeHooks(t, r); h.PreHook == nil || *h.PreHook != "pg_dump mydb > /tmp/db.sql" || h.PostHook == nil || *h.PostHook != "" ||
		!h.HasPreHook || h.HasPostHook || h.Timeout != 120 {
		t.Fatalf("created group's hooks: %s", r.body)
	}
	group := groups + "/db"
	// Absent keeps, a string sets.
	if r := admin.putJSON(group, `{"name":"db","paths":["/var/lib/db"],"post_hook":"rm /tmp/db.sql"}`); r.StatusCode != http.StatusOK {
		t.Fatalf("update: %d %s", r.StatusCode, r.body)
	} else if h := decodeHooks(t, r); !h.HasPreHook || !h.HasPostHook || *h.PostHook != "rm /tmp/db.sql" || h.Timeout != 120 {
		t.Fatalf("after update: %s", r.body)
	}
	// The operator sees that hooks are set, never a body; the list too.
	r = op.get(group)
	if h := decodeHooks(t, r); r.StatusCode != http.StatusOK || h.PreHook != nil || h.PostHook != nil || !h.HasPreHook || !h.HasPostHook ||
		strings.Contains(r.body, "pg_dump") {
		t.Fatalf("operator GET of the group: %d %s", r.StatusCode, r.body)
	}
	if r := op.get(groups); strings.Contains(r.body, "pg_dump") || !strings.Contains(r.body, `"has_pre_hook":true`) {
		t.Fatalf("operator list: %s", r.body)
	}
	audits := a.auditCount()
	for _, try := range []struct{ method, path, body string }{
		{http.MethodPut, group, `{"name":"db","paths":["/var/lib/db"],"pre_hook":"id"}`},
		{http.MethodPost, groups, `{"name":"db2","paths":["/x"],"pre_hook":"id"}`},
		{http.MethodPut, "/api/v1/hosts/" + f.hostID + "/hooks", `{"pre_hook":"id"}`},
	} {
		if r := op.do(try.method, try.path, strings.NewReader(try.body), http.Header{"Content-Type": {"application/json"}}); r.StatusCode != http.StatusForbidden {
			t.Fatalf("operator %s %s: %d %s", try.method, try.path, r.StatusCode, r.body)
		}
	}
	// null clears.
	if r := admin.putJSON(group, `{"name":"db","paths":["/var/lib/db"],"pre_hook":null}`); decodeHooks(t, r).HasPreHook {
		t.Fatalf("null did not clear: %s", r.body)
	}

	// Host defaults.
	hooks := "/api/v1/hosts/" + f.hostID + "/hooks"
	r = admin.putJSON(hooks, `{"pre_hook":"systemctl stop app","post_hook":"systemctl start app"}`)
	if h := decodeHooks(t, r); r.StatusCode != http.StatusOK || *h.PreHook != "systemctl stop app" || h.Timeout != topics.DefaultHookTimeout {
		t.Fatalf("PUT host hooks: %d %s", r.StatusCode, r.body)
	}
	if r := op.get(hooks); r.StatusCode != http.StatusOK || strings.Contains(r.body, "systemctl") || !decodeHooks(t, r).HasPostHook {
		t.Fatalf("operator GET host hooks: %d %s", r.StatusCode, r.body)
	}
	if r := admin.get(hooks); *decodeHooks(t, r).PostHook != "systemctl start app" {
		t.Fatalf("admin GET host hooks: %s", r.body)
	}
	if r := admin.putJSON(hooks, `{"post_hook":""}`); decodeHooks(t, r).HasPostHook || !decodeHooks(t, r).HasPreHook {
		t.Fatalf("clear the post hook: %s", r.body)
	}

	// Refusals: one sentence, nothing stored, nothing audited.
	audits = a.auditCount()
	big := strings.Repeat("x", topics.MaxHookBody+1)
	for _, body := range []string{`{"pre_hook":"` + big + `"}`, `{"pre_hook":"a\u0000b"}`, `{"hook_timeout_seconds":86401}`,
		`{"hook_timeout_seconds":-5}`, `{"pre_hook":42}`, `{"prehook":"x"}`} {
		for _, path := range []string{hooks, group} {
			b := body
			if path == group {
				b = `{"name":"db","paths":["/var/lib/db"],` + strings.TrimPrefix(body, "{")
			}
			r := admin.putJSON(path, b)
			if e := apiErrorOf(t, r); r.StatusCode != http.StatusBadRequest || strings.Contains(e.Message, "xxxx") {
				t.Fatalf("%s %.80s: %d %+v", path, b, r.StatusCode, e)
			}
		}
	}
	if n := a.auditCount(); n != audits {
		t.Fatalf("refused requests were audited: %d rows, had %d", n, audits)
	}
	if r := admin.get(hooks); *decodeHooks(t, r).PreHook != "systemctl stop app" {
		t.Fatalf("a refused request changed the hooks: %s", r.body)
	}
}

// TestHookForms (#10): the group page and the repository page carry the
// hook editors with the banner; an admin edits the bodies (and saving the
// host defaults works through the form), an operator sees read-only
// fields that say a hook is set without its body, and which hook applies.
func TestHookForms(t *testing.T) {
	a := newTestApp(t)
	f, g, _ := a.groupHost("files-1", false)
	ctx := t.Context()
	if _, err := a.svc.SetHostHooks(ctx, server.CLIActor(), f.hostID, server.HookInput{PreHook: ptrTo("echo host default")}); err != nil {
		t.Fatal(err)
	}
	admin, csrf := a.signedIn("ada", server.RoleAdmin)
	op, _ := a.signedIn("otto", server.RoleOperator)
	groupPage := "/hosts/" + f.hostID + "/source-groups/" + itoa(g.ID)

	p := op.get(groupPage)
	if !strings.Contains(p.body, hookBannerText) || !strings.Contains(p.body, `id="sg-pre-hook" rows="1" readonly`) ||
		strings.Contains(p.body, `name="pre_hook"`) || !strings.Contains(p.body, "the host's default pre hook runs") ||
		strings.Contains(p.body, "echo host default") {
		t.Fatalf("operator's group page:\n%s", p.body)
	}
	// The admin saves the group with a pre hook typed in the form (CRLF as browsers send).
	form := url.Values{"csrf_token": {csrf}, "name": {"docs"}, "paths": {"/home/docs"}, "preset": {"none"},
		"pre_hook": {"echo one\r\necho two"}, "post_hook": {""}, "hook_timeout_seconds": {"30"}}
	if r := admin.postForm(groupPage, form); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("save group: %d\n%s", r.StatusCode, r.body)
	}
	set, err := a.svc.SourceGroupHooks(ctx, server.CLIActor(), f.hostID, g.Key)
	if err != nil || *set.PreHook != "echo one\necho two" || set.TimeoutSeconds != 30 {
		t.Fatalf("stored: %v %+v", err, set)
	}
	if p := admin.get(groupPage); !strings.Contains(p.body, ">echo one\necho two</textarea>") || !strings.Contains(p.body, "This group's own pre hook runs.") {
		t.Fatalf("admin's group page:\n%s", p.body)
	}
	if p := op.get(groupPage); strings.Contains(p.body, "echo one") || !strings.Contains(p.body, "set — only an admin can read or change it") {
		t.Fatalf("operator's group page after the save:\n%s", p.body)
	}
	// A bad timeout comes back with what was typed.
	form.Set("hook_timeout_seconds", "abc")
	if r := admin.postForm(groupPage, form); r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "Hook timeout must be a whole number") ||
		!strings.Contains(r.body, "echo one\necho two</textarea>") {
		t.Fatalf("refused form: %d\n%s", r.StatusCode, r.body)
	}

	// Host defaults on the repository page.
	repoPage := "/hosts/" + f.hostID + "/repository"
	if p := op.get(repoPage); !strings.Contains(p.body, hookBannerText) || strings.Contains(p.body, "echo host default") ||
		strings.Contains(p.body, `id="hooks-form"`) {
		t.Fatalf("operator's repository page:\n%s", p.body)
	}
	if p := admin.get(repoPage); !strings.Contains(p.body, ">echo host default</textarea>") {
		t.Fatalf("admin's repository page:\n%s", p.body)
	}
	r := admin.postForm("/hosts/"+f.hostID+"/hooks", url.Values{"csrf_token": {csrf}, "pre_hook": {""}, "post_hook": {"echo done"}, "hook_timeout_seconds": {""}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("save host hooks: %d\n%s", r.StatusCode, r.body)
	}
	host, _ := a.svc.GetHostHooks(ctx, server.CLIActor(), f.hostID)
	if host.HasPreHook || *host.PostHook != "echo done" || host.TimeoutSeconds != topics.DefaultHookTimeout {
		t.Fatalf("host hooks after the form: %+v", host)
	}
	if r := op.postForm("/hosts/"+f.hostID+"/hooks", url.Values{"csrf_token": {csrfFrom(t, op.get("/").body)}, "pre_hook": {"id"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("operator posts host hooks: %d", r.StatusCode)
	}
}

// TestHookLinesMarked (#10): a hook's lines carry ln-hook on the job page;
// restic's and the agent's do not.
func TestHookLinesMarked(t *testing.T) {
	for _, tc := range []struct {
		line server.LogLine
		want bool
	}{
		{server.LogLine{N: 1, Stream: topics.StreamStdout, Text: "hook: hello"}, true},
		{server.LogLine{N: 2, Stream: topics.StreamStderr, Text: "hook: [stderr] oops"}, true},
		{server.LogLine{N: 3, Stream: topics.StreamStdout, Text: `{"message_type":"summary"}`}, false},
		{server.LogLine{N: 4, Stream: topics.StreamAgent, Text: "hook: not one"}, false},
	} {
		if got := strings.Contains(logLineHTML(tc.line), " ln-hook"); got != tc.want {
			t.Errorf("%+v: %s", tc.line, logLineHTML(tc.line))
		}
	}
}

func ptrTo(s string) *string { return &s }
