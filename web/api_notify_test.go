package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestNotificationsAPI: the notification routes' real answers validate
// against the document; a channel's URL and secret never come back; a PUT
// of what GET gave changes nothing; a test message is delivered and listed.
func TestNotificationsAPI(t *testing.T) {
	doc := loadOpenAPI(t)
	c := &apiChecker{t: t, doc: doc, checked: map[string]bool{}}
	app := newTestApp(t)
	app.runService() // the delivery worker
	app.quickUser("ada", "admin")
	api := app.apiClient("ada")
	rcv := newNotifyReceiver(t)
	send := func(method, tmpl, path, body string) any {
		t.Helper()
		res := api.do(method, path, strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
		if res.StatusCode < 300 {
			c.checkRequest(method, tmpl, body)
		}
		return c.check(method, tmpl, res)
	}
	one, list := "/api/v1/notification-channels/{cid}", "/api/v1/notification-channels"

	const secretPath = "/hook/tk-91827364"
	created := send(http.MethodPost, list, list, fmt.Sprintf(
		`{"name":"ops","kind":"webhook","url":%q,"secret":"hmac-key-5531","events":["job.failed","host.pending"],"tags":["site:lyon"],"throttle_minutes":30}`,
		rcv.URL+secretPath)).(map[string]any)
	id := int64(created["id"].(float64))
	path := fmt.Sprintf("%s/%d", list, id)
	send(http.MethodPost, list, list, `{"name":"ops","kind":"webhook","url":"https://x.example","events":["job.failed"]}`) // 409
	send(http.MethodPost, list, list, `{"name":"bad","kind":"webhook","url":"ftp://x.example","events":["job.failed"]}`)   // 400
	send(http.MethodPost, list, list, `{"name":"shout","kind":"shoutrrr","url":"ntfy://ntfy.sh/my-private-topic","events":["job.failed"],"digest_hour":8}`)
	send(http.MethodPost, list, list, `{"name":"hc","kind":"healthchecks","url":"https://hc-ping.com/ping-key-123"}`)

	res := api.get(path)
	c.check(http.MethodGet, one, res)
	for _, secret := range []string{"tk-91827364", "hmac-key-5531", "my-private-topic", "ping-key-123"} {
		for _, p := range []string{path, list} {
			if body := api.get(p).body; strings.Contains(body, secret) {
				t.Fatalf("GET %s shows a secret: %s", p, body)
			}
		}
	}
	before := res.body
	send(http.MethodPut, one, path, res.body) // what GET gave
	if after := api.get(path).body; after != before {
		t.Fatalf("an unchanged PUT changed the channel:\n%s\n%s", before, after)
	}
	send(http.MethodPut, one, path, fmt.Sprintf(`{"name":"ops","kind":"webhook","url":%q,"events":["job.failed"],"throttle_minutes":0}`, created["url"]))
	c.check(http.MethodGet, one, api.get(list+"/999"))

	d := send(http.MethodPost, one+"/test", path+"/test", "").(map[string]any)
	if d["event"] != "test" || (d["state"] != "pending" && d["state"] != "sent") { // the worker may be quicker than the answer
		t.Fatalf("test delivery %v", d)
	}
	got := rcv.wait(t, 1)
	if got[0].path != secretPath || got[0].header.Get("X-Restic-Manager-Signature") == "" {
		t.Fatalf("the receiver got %+v", got[0])
	}
	waitUntil(t, "the test delivery marked sent", func() bool {
		var v struct{ Deliveries []struct{ State string } }
		_ = json.Unmarshal([]byte(api.get("/api/v1/notification-deliveries?channel="+fmt.Sprint(id)).body), &v)
		return len(v.Deliveries) == 1 && v.Deliveries[0].State == "sent"
	})
	c.check(http.MethodGet, "/api/v1/notification-deliveries", api.get("/api/v1/notification-deliveries?state=sent&limit=5"))
	c.check(http.MethodGet, "/api/v1/notification-deliveries", api.get("/api/v1/notification-deliveries?state=lost"))

	host := app.enrollHost("lyon-1").HostID
	hosts := "/api/v1/hosts/{id}/notifications"
	c.check(http.MethodGet, hosts, api.get("/api/v1/hosts/"+host+"/notifications"))
	send(http.MethodPut, hosts, "/api/v1/hosts/"+host+"/notifications", `{"muted":true,"check_slug":"lyon-1-check"}`)
	send(http.MethodPut, hosts, "/api/v1/hosts/"+host+"/notifications", `{"muted":false,"check_slug":"no spaces"}`)
	c.check(http.MethodGet, hosts, api.get("/api/v1/hosts/h_nosuchhost/notifications"))
	send(http.MethodDelete, one, path, "")
	c.check(http.MethodDelete, one, api.do(http.MethodDelete, path, nil, nil)) // 404 now
}
