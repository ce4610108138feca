package web

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/restic-manager/restic-manager/server"
)

// notifyChannel adds a webhook channel (to a loopback port nothing listens
// on) straight through the domain and returns its id; it writes one audit row.
func (a *testApp) notifyChannel(name string) int64 {
	a.t.Helper()
	ch, err := a.svc.CreateNotificationChannel(a.t.Context(), server.CLIActor(), server.NotificationChannel{Name: name,
		Kind: server.ChannelWebhook, URL: "http://127.0.0.1:9/hook", Events: []string{server.NotifyJobFailed}, Enabled: true})
	if err != nil {
		a.t.Fatal(err)
	}
	return ch.ID
}

// notifySetupRows are the audit rows the notification cases' setup writes.
func notifySetupRows(enrolled int) map[string]int {
	return map[string]int{
		"/admin/notifications/:cid": 1, "/admin/notifications/:cid/test": 1, "/admin/notifications/:cid/delete": 1,
		"/api/v1/notification-channels/:cid": 1, "/api/v1/notification-channels/:cid/test": 1,
		"/admin/notifications/hosts/:id": enrolled, "/api/v1/hosts/:id/notifications": enrolled,
	}
}

// notifyRoleCases are the role matrix's notification routes (#13): admins only.
func notifyRoleCases() []roleCase {
	form := func(path string, f url.Values) func(*testApp, *client, string, int) response {
		return func(_ *testApp, c *client, csrf string, _ int) response {
			f.Set("csrf_token", csrf)
			return c.postForm(path, f)
		}
	}
	admin := server.PermAdmin
	return []roleCase{
		{http.MethodGet, "/admin/notifications", admin, false, 200, func(_ *testApp, c *client, _ string, _ int) response {
			return c.get("/admin/notifications")
		}},
		{http.MethodPost, "/admin/notifications", admin, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			return form("/admin/notifications", url.Values{"name": {fmt.Sprintf("form-%d", n)}, "kind": {"webhook"},
				"url": {"http://127.0.0.1:9/hook"}, "events": {"job.failed", "host.overdue"}, "throttle_minutes": {"30"}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/admin/notifications/:cid", admin, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			id := app.notifyChannel(fmt.Sprintf("edit-%d", n))
			return form(fmt.Sprintf("/admin/notifications/%d", id), url.Values{"name": {fmt.Sprintf("edited-%d", n)}, "kind": {"webhook"},
				"events": {"job.failed", "job.warning"}, "enabled": {"on"}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/admin/notifications/:cid/test", admin, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			return form(fmt.Sprintf("/admin/notifications/%d/test", app.notifyChannel(fmt.Sprintf("ping-%d", n))), url.Values{})(app, c, csrf, n)
		}},
		{http.MethodPost, "/admin/notifications/:cid/delete", admin, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			return form(fmt.Sprintf("/admin/notifications/%d/delete", app.notifyChannel(fmt.Sprintf("del-%d", n))), url.Values{})(app, c, csrf, n)
		}},
		{http.MethodPost, "/admin/notifications/hosts/:id", admin, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			host := app.enrollHost(fmt.Sprintf("mute-%d", n)).HostID
			return form("/admin/notifications/hosts/"+host, url.Values{"muted": {"on"}, "check_slug": {"mute-check"}})(app, c, csrf, n)
		}},
		{http.MethodGet, "/api/v1/notification-channels", admin, false, 200, func(_ *testApp, c *client, _ string, _ int) response {
			return c.get("/api/v1/notification-channels")
		}},
		{http.MethodPost, "/api/v1/notification-channels", admin, true, 201, func(_ *testApp, c *client, _ string, n int) response {
			return c.postJSON("/api/v1/notification-channels",
				fmt.Sprintf(`{"name":"api-%d","kind":"webhook","url":"http://127.0.0.1:9/hook","secret":"k","events":["job.failed"]}`, n))
		}},
		{http.MethodGet, "/api/v1/notification-channels/:cid", admin, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get(fmt.Sprintf("/api/v1/notification-channels/%d", app.notifyChannel(fmt.Sprintf("seen-%d", n))))
		}},
		{http.MethodPut, "/api/v1/notification-channels/:cid", admin, true, 200, func(app *testApp, c *client, _ string, n int) response {
			id := app.notifyChannel(fmt.Sprintf("put-%d", n))
			return c.putJSON(fmt.Sprintf("/api/v1/notification-channels/%d", id),
				fmt.Sprintf(`{"name":"put-%d","kind":"webhook","events":["job.failed","job.warning"],"throttle_minutes":10}`, n))
		}},
		{http.MethodDelete, "/api/v1/notification-channels/:cid", admin, true, 204, func(app *testApp, c *client, _ string, n int) response {
			return c.do(http.MethodDelete, fmt.Sprintf("/api/v1/notification-channels/%d", app.notifyChannel(fmt.Sprintf("gone-%d", n))), nil, nil)
		}},
		{http.MethodPost, "/api/v1/notification-channels/:cid/test", admin, true, 202, func(app *testApp, c *client, _ string, n int) response {
			return c.postJSON(fmt.Sprintf("/api/v1/notification-channels/%d/test", app.notifyChannel(fmt.Sprintf("api-ping-%d", n))), "")
		}},
		{http.MethodGet, "/api/v1/notification-deliveries", admin, false, 200, func(_ *testApp, c *client, _ string, _ int) response {
			return c.get("/api/v1/notification-deliveries")
		}},
		{http.MethodGet, "/api/v1/hosts/:id/notifications", admin, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/api/v1/hosts/" + app.enrollHost(fmt.Sprintf("nset-%d", n)).HostID + "/notifications")
		}},
		{http.MethodPut, "/api/v1/hosts/:id/notifications", admin, true, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.putJSON("/api/v1/hosts/"+app.enrollHost(fmt.Sprintf("nput-%d", n)).HostID+"/notifications", `{"muted":true,"check_slug":""}`)
		}},
	}
}
