package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// announceFrom announces n new machines from addr (an IP) and returns
// their pending IDs.
func (a *testApp) announceFrom(addr string, n int) []int64 {
	a.t.Helper()
	var ids []int64
	for range n {
		a.announced++
		agent := servertest.NewPendingAgent(a.t, fmt.Sprintf("m-%d", a.announced))
		if st := agent.Announce(a.t, a.svc, a.pub, uint64(a.announced), fmt.Sprintf("%s:%d", addr, 30000+a.announced)); st == nil || st.State != topics.AnnouncePending {
			a.t.Fatalf("announce from %s: %+v", addr, st)
		}
		list, err := a.svc.ListPendingHosts(a.t.Context())
		if err != nil {
			a.t.Fatal(err)
		}
		for _, p := range list {
			if p.ClientID == agent.Client {
				ids = append(ids, p.ID)
			}
		}
	}
	return ids
}

// TestPendingQueueFullShown: when the announce queue is at its cap the
// dashboard, the pending-hosts fragment and the API say so, with how many
// machines were dropped to make room; a new machine still gets in. The cap
// is set to 20 (5 per address): a full queue of the default 100 shows the
// same and cost 80 more announces.
func TestPendingQueueFullShown(t *testing.T) {
	app := newTestAppWith(t, server.Options{Announce: server.AnnounceOptions{MaxPending: 20, MaxPendingPerAddr: 5}})
	admin, _ := app.signedIn("root", server.RoleAdmin)
	viewer, _ := app.signedIn("val", server.RoleViewer)
	servertest.MustCreateUser(t, app.svc, "ci", server.RoleViewer)
	api := app.apiClient("ci")

	for i := range 5 {
		app.announceFrom(fmt.Sprintf("203.0.113.%d", i+1), 3)
	}
	if strings.Contains(admin.get("/").body, "queue full") {
		t.Fatal("queue full shown with 15 of 20 waiting")
	}
	app.announceFrom("203.0.113.11", 5)
	app.announceFrom("192.0.2.7", 1) // the 21st: one of 203.0.113.11's is dropped
	for name, body := range map[string]string{"admin's dashboard": admin.get("/").body, "viewer's dashboard": viewer.get("/").body,
		"pending-hosts fragment": admin.getHX("/pending-hosts").body} {
		mustContain(t, name, body, `id="pending-queue-full"`, "queue full", "20 of 20 machines are waiting",
			"1 were dropped because the queue was full and 0 were replaced", "each address holds at most 5")
	}
	mustContain(t, "admin's dashboard", admin.get("/").body, "If this is a flood, reject its machines by address below",
		`Reject all 4 from <span class="font-mono">203.0.113.11</span>`) // it held the most: its longest-unseen made room

	var list struct {
		PendingHosts []json.RawMessage `json:"pending_hosts"`
		Queue        struct {
			Waiting, Cap, PerAddress int
			Full                     bool
			Evicted, Replaced        int
		} `json:"queue"`
	}
	res := api.get("/api/v1/pending-hosts")
	if err := json.Unmarshal([]byte(res.body), &list); err != nil || len(list.PendingHosts) != 20 || !list.Queue.Full ||
		list.Queue.Waiting != 20 || list.Queue.Cap != 20 || list.Queue.Evicted != 1 || !strings.Contains(res.body, `"per_address":5`) {
		t.Fatalf("API list: %v %+v", err, list.Queue)
	}
}

// TestBulkRejectFromDashboard: the panel's checkboxes and "Reject
// selected", and "Reject all from address", reject many machines in one
// audited action; they need the CSRF token and an admin.
func TestBulkRejectFromDashboard(t *testing.T) {
	app := newTestApp(t)
	admin, csrf := app.signedIn("root", server.RoleAdmin)
	viewer, _ := app.signedIn("val", server.RoleViewer)
	flood := app.announceFrom("203.0.113.5", 3)
	_, a := app.announce("odd-1")
	_, b := app.announce("odd-2")
	_, keep := app.announce("real")

	home := admin.get("/").body
	mustContain(t, "admin's panel", home, `id="pending-bulk"`, `action="/pending-hosts/reject"`, "Reject selected",
		fmt.Sprintf(`name="ids" value="%d" form="pending-bulk"`, a), `name="source_addr" value="203.0.113.5"`,
		`Reject all 3 from <span class="font-mono">203.0.113.5</span>`)
	for name, body := range map[string]string{"viewer's dashboard": viewer.get("/").body, "viewer's fragment": viewer.getHX("/pending-hosts").body} {
		if strings.Contains(body, "pending-bulk") || strings.Contains(body, "Reject all") {
			t.Errorf("%s offers bulk rejection", name)
		}
	}

	pick := url.Values{"ids": {itoa(a), itoa(b)}}
	if res := admin.postForm("/pending-hosts/reject", pick); res.StatusCode != http.StatusForbidden {
		t.Fatalf("without CSRF: %d", res.StatusCode)
	}
	if res := viewer.postForm("/pending-hosts/reject", url.Values{"ids": {itoa(a)}, "csrf_token": {csrf}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer: %d", res.StatusCode)
	}
	res := admin.postForm("/pending-hosts/reject", url.Values{"csrf_token": {csrf}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, "Tick the machines to reject") {
		t.Fatalf("nothing ticked: %d", res.StatusCode)
	}
	if n := waitingCount(t, app); n != 6 {
		t.Fatalf("refused requests changed the queue: %d waiting", n)
	}

	pick.Set("csrf_token", csrf)
	res = admin.postForm("/pending-hosts/reject", pick)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/?rejected=2" {
		t.Fatalf("reject selected: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	mustContain(t, "dashboard after", admin.get("/?rejected=2").body, "Rejected 2 machines.")
	e := app.lastAudit()
	if e.Action != "pending_host.reject_many" || e.Actor != "root" || e.Via != "web" || !strings.Contains(e.Details, `"count":2`) ||
		!strings.Contains(e.Details, fmt.Sprintf(`"pending_ids":[%d,%d]`, min(a, b), max(a, b))) {
		t.Fatalf("audit %+v", e)
	}

	res = admin.postForm("/pending-hosts/reject", url.Values{"csrf_token": {csrf}, "source_addr": {"203.0.113.5"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/?rejected=3" {
		t.Fatalf("reject all from address: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if e := app.lastAudit(); e.Action != "pending_host.reject_many" || !strings.Contains(e.Details, `"source_addr":"203.0.113.5"`) ||
		!strings.Contains(e.Details, fmt.Sprintf("%d", flood[2])) {
		t.Fatalf("audit %+v", e)
	}
	list, err := app.svc.ListPendingHosts(t.Context())
	if err != nil || len(list) != 1 || list[0].ID != keep {
		t.Fatalf("left waiting: %+v %v", list, err)
	}
	if res := admin.postForm("/pending-hosts/reject", pick); res.StatusCode != http.StatusNotFound {
		t.Errorf("rejecting them again: %d", res.StatusCode)
	}
}

func waitingCount(t *testing.T, app *testApp) int {
	t.Helper()
	list, err := app.svc.ListPendingHosts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// TestAPIBulkReject: POST /api/v1/pending-hosts/reject takes ids and/or a
// source address, answers with the IDs it rejected, and writes one audit
// row; bad bodies change nothing.
func TestAPIBulkReject(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ci", server.RoleAdmin)
	api := app.apiClient("ci")
	flood := app.announceFrom("203.0.113.9", 4)
	agent, lone := app.announce("odd")
	_, keep := app.announce("real")

	for _, body := range []string{`{}`, `{"ids":[]}`, `{"ids":[-1]}`, `{"ids":[1],"sourceaddr":"x"}`, `{"source_addr":"  "}`, `nope`} {
		if res := api.postJSON("/api/v1/pending-hosts/reject", body); res.StatusCode != http.StatusBadRequest || apiErrorOf(t, res).Error != server.CodeInvalid {
			t.Errorf("%s: %d %s", body, res.StatusCode, res.body)
		}
	}
	if n := waitingCount(t, app); n != 6 {
		t.Fatalf("bad bodies changed the queue: %d waiting", n)
	}

	res := api.postJSON("/api/v1/pending-hosts/reject", fmt.Sprintf(`{"ids":[%d, 99999],"source_addr":"203.0.113.9"}`, lone))
	var got struct {
		Rejected int     `json:"rejected"`
		IDs      []int64 `json:"ids"`
		State    string  `json:"state"`
	}
	if err := json.Unmarshal([]byte(res.body), &got); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("bulk reject: %d %s", res.StatusCode, res.body)
	}
	want := append(slices.Clone(flood), lone)
	slices.Sort(want)
	slices.Sort(got.IDs)
	if got.Rejected != 5 || !slices.Equal(got.IDs, want) || got.State != server.PendingStateRejected {
		t.Fatalf("answer %+v, want ids %v", got, want)
	}
	e := app.lastAudit()
	if e.Action != "pending_host.reject_many" || e.Via != "api" || !strings.Contains(e.Details, `"count":5`) {
		t.Fatalf("audit %+v", e)
	}
	if st := agent.LastStatus(t, app.pub); st == nil || st.State != topics.AnnounceRejected {
		t.Errorf("a rejected machine was told %+v", st)
	}
	if list, _ := app.svc.ListPendingHosts(t.Context()); len(list) != 1 || list[0].ID != keep {
		t.Fatalf("left waiting: %+v", list)
	}
	if res := api.postJSON("/api/v1/pending-hosts/reject", fmt.Sprintf(`{"ids":[%d]}`, lone)); res.StatusCode != http.StatusNotFound {
		t.Errorf("again: %d", res.StatusCode)
	}
}

func FuzzDecodePendingRejectRequest(f *testing.F) {
	for _, seed := range []string{
		`{"ids":[1,2,3]}`, `{"source_addr":"203.0.113.9"}`, `{"ids":[4],"source_addr":"::1"}`,
		`{"ids":[0]}`, `{"ids":[-3]}`, `{"ids":"1"}`, `{"ids":[1.5]}`, `{"source_addr":7}`, `{}`, `{`, `[]`, `null`, `{"x":1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodePendingRejectRequest(strings.NewReader(string(body)))
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if len(req.IDs) == 0 && req.SourceAddr == "" || len(req.IDs) > server.MaxBulkReject || req.SourceAddr != strings.TrimSpace(req.SourceAddr) {
			t.Fatalf("accepted %+v", req)
		}
		for _, id := range req.IDs {
			if id <= 0 {
				t.Fatalf("accepted id %d", id)
			}
		}
	})
}
