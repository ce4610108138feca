package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// roleCase is one route of the role matrix.
type roleCase struct {
	method, route string      // the route table entry this case covers
	perm          server.Perm // what the route should require
	change        bool        // an allowed call changes something (and writes one audit row)
	okStatus      int
	// call makes the request; n makes names unique across calls.
	call func(app *testApp, c *client, csrf string, n int) response
}

func roleCases() []roleCase {
	form := func(path string, f url.Values) func(*testApp, *client, string, int) response {
		return func(_ *testApp, c *client, csrf string, _ int) response {
			f.Set("csrf_token", csrf)
			return c.postForm(path, f)
		}
	}
	get := func(path string) func(*testApp, *client, string, int) response {
		return func(_ *testApp, c *client, _ string, _ int) response { return c.get(path) }
	}
	return append([]roleCase{
		{http.MethodGet, "/", server.PermRead, false, 200, get("/")},
		{http.MethodGet, "/hosts/:id", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/hosts/" + app.enrollHost(fmt.Sprintf("seen-%d", n)).HostID)
		}},
		{http.MethodPost, "/hosts/:id/revoke", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			name := fmt.Sprintf("gone-%d", n)
			return form("/hosts/"+app.enrollHost(name).HostID+"/revoke", url.Values{"confirm_name": {name}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/hosts/:id/jobs", server.PermRunJobs, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			host := app.readyHost(fmt.Sprintf("run-%d", n))
			return form("/hosts/"+host.hostID+"/jobs", url.Values{"kind": {"backup"}, "paths": {"/etc\n/home"}})(app, c, csrf, n)
		}},
		// Restore anywhere (#14): the restore form of a snapshot, and a restore into a directory through it.
		{http.MethodGet, "/hosts/:id/snapshots/:snap/restore", server.PermRunJobs, false, 200, func(app *testApp, c *client, _ string, n int) response {
			host := app.readyHost(fmt.Sprintf("restore-seen-%d", n))
			_, snap := host.reportSnapshots(1)
			return c.get("/hosts/" + host.hostID + "/snapshots/" + snap + "/restore?include=/etc/hosts")
		}},
		{http.MethodPost, "/hosts/:id/snapshots/:snap/restore", server.PermRunJobs, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			host := app.readyHost(fmt.Sprintf("restore-run-%d", n))
			_, snap := host.reportSnapshots(1)
			return form("/hosts/"+host.hostID+"/snapshots/"+snap+"/restore", url.Values{"include": {"/etc/hosts"}, "where": {"directory"},
				"target": {"/srv/restore"}, "overwrite": {"if-newer"}})(app, c, csrf, n)
		}},
		{http.MethodGet, "/hosts/:id/repository", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/hosts/" + app.enrollHost(fmt.Sprintf("repo-seen-%d", n)).HostID + "/repository")
		}},
		{http.MethodPost, "/hosts/:id/repository", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			host := app.onlineHost(fmt.Sprintf("repo-set-%d", n))
			return form("/hosts/"+host.hostID+"/repository", url.Values{"url": {"/srv/restic"}, "password": {"pw"}, "env": {"AWS_REGION=eu-west-1"}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/hosts/:id/repository/reinit", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			name := fmt.Sprintf("reinit-%d", n)
			return form("/hosts/"+app.readyHost(name).hostID+"/repository/reinit", url.Values{"confirm_name": {name}})(app, c, csrf, n)
		}},
		{http.MethodGet, "/hosts/:id/source-groups/:group", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			h, g, _ := app.groupHost(fmt.Sprintf("sg-seen-%d", n), false)
			return c.get(fmt.Sprintf("/hosts/%s/source-groups/%d", h.hostID, g.ID))
		}},
		{http.MethodPost, "/hosts/:id/source-groups", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			host := app.readyHost(fmt.Sprintf("sg-new-%d", n))
			return form("/hosts/"+host.hostID+"/source-groups", url.Values{"name": {"docs"}, "paths": {"/home/docs"}, "preset": {"none"}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/hosts/:id/source-groups/:group", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			h, g, s := app.groupHost(fmt.Sprintf("sg-edit-%d", n), false)
			// The same schedule as before: only the group changes (one audit row).
			return form(fmt.Sprintf("/hosts/%s/source-groups/%d", h.hostID, g.ID), url.Values{"name": {"docs"}, "paths": {"/home/docs\n/srv"},
				"preset": {"daily"}, "time": {"03:00"}, "time_zone": {s.TimeZone}, "catch_up": {"1"}, "keep_daily": {"7"}, "keep_weekly": {"4"}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/hosts/:id/source-groups/:group/delete", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			h, g, _ := app.groupHost(fmt.Sprintf("sg-del-%d", n), false)
			return form(fmt.Sprintf("/hosts/%s/source-groups/%d/delete", h.hostID, g.ID), url.Values{"confirm_name": {"docs"}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/hosts/:id/source-groups/:group/retention-preview", server.PermConfigure, true, 200, func(app *testApp, c *client, csrf string, n int) response {
			h, g, _ := app.groupHost(fmt.Sprintf("sg-prev-%d", n), false)
			f := url.Values{"keep_last": {"3"}, "csrf_token": {csrf}}
			return c.do(http.MethodPost, fmt.Sprintf("/hosts/%s/source-groups/%d/retention-preview", h.hostID, g.ID), strings.NewReader(f.Encode()),
				http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Hx-Request": {"true"}})
		}},
		{http.MethodPost, "/hosts/:id/schedules", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			host := app.readyHost(fmt.Sprintf("sch-new-%d", n))
			return form("/hosts/"+host.hostID+"/schedules", url.Values{"kind": {"check"}, "preset": {"weekly"}, "weekday": {"sunday"}, "time": {"04:00"}, "catch_up": {"1"}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/hosts/:id/schedules/:sid", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			h, g, s := app.groupHost(fmt.Sprintf("sch-edit-%d", n), false)
			return form(fmt.Sprintf("/hosts/%s/schedules/%d", h.hostID, s.ID), url.Values{"kind": {"backup"}, "source_group": {itoa(g.ID)},
				"preset": {"hourly"}, "minute": {"15"}, "time_zone": {"UTC"}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/hosts/:id/schedules/:sid/delete", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			h, _, s := app.groupHost(fmt.Sprintf("sch-del-%d", n), false)
			return form(fmt.Sprintf("/hosts/%s/schedules/%d/delete", h.hostID, s.ID), url.Values{})(app, c, csrf, n)
		}},
		{http.MethodPost, "/hosts/:id/schedules/:sid/pause", server.PermRunJobs, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			h, _, s := app.groupHost(fmt.Sprintf("sch-pause-%d", n), false)
			return form(fmt.Sprintf("/hosts/%s/schedules/%d/pause", h.hostID, s.ID), url.Values{})(app, c, csrf, n)
		}},
		{http.MethodPost, "/hosts/:id/schedules/:sid/resume", server.PermRunJobs, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			h, _, s := app.groupHost(fmt.Sprintf("sch-resume-%d", n), true)
			return form(fmt.Sprintf("/hosts/%s/schedules/%d/resume", h.hostID, s.ID), url.Values{})(app, c, csrf, n)
		}},
		{http.MethodPost, "/hosts/:id/bandwidth", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			host := app.readyHost(fmt.Sprintf("bw-%d", n))
			return form("/hosts/"+host.hostID+"/bandwidth", url.Values{"up_kbps": {"1024"}, "down_kbps": {""}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/hosts/:id/hooks", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			host := app.readyHost(fmt.Sprintf("hooks-%d", n))
			return form("/hosts/"+host.hostID+"/hooks", url.Values{"pre_hook": {"echo pre"}, "post_hook": {""}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/hosts/:id/tags", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			return form("/hosts/"+app.enrollHost(fmt.Sprintf("tags-%d", n)).HostID+"/tags", url.Values{"tags": {"site:lyon, laptop"}})(app, c, csrf, n)
		}},
		// Host health thresholds (#13): a host's are its config, the fleet's are admins'.
		{http.MethodPost, "/hosts/:id/alerting", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			return form("/hosts/"+app.enrollHost(fmt.Sprintf("alert-%d", n)).HostID+"/alerting", url.Values{"overdue_hours": {"48"}, "offline_hours": {"168"}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/admin/settings/alerting", server.PermAdmin, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			return form("/admin/settings/alerting", url.Values{"host": {app.enrollHost(fmt.Sprintf("fleet-alert-%d", n)).HostID},
				"fleet_overdue_hours": {"30"}, "fleet_offline_hours": {"48"}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/fleet/actions", server.PermRunJobs, true, 200, func(app *testApp, c *client, csrf string, n int) response {
			host := app.readyHost(fmt.Sprintf("fleet-%d", n))
			return form("/fleet/actions", url.Values{"target": {"picked"}, "host_id": {host.hostID}, "action": {"check"}})(app, c, csrf, n)
		}},
		{http.MethodGet, "/jobs/:id/preview", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			h, g, _ := app.groupHost(fmt.Sprintf("prev-seen-%d", n), false)
			j, err := app.svc.PreviewRetention(app.t.Context(), server.CLIActor(), h.hostID, g.Name, topics.Retention{Last: 1})
			requireNoError(app.t, err)
			return c.get(jobPath(j.ID) + "/preview")
		}},
		{http.MethodGet, "/jobs", server.PermRead, false, 200, get("/jobs?status=running")},
		{http.MethodGet, "/jobs/:id", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get(jobPath(app.readyJob(n).ID))
		}},
		{http.MethodGet, "/jobs/:id/log", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get(jobPath(app.readyJob(n).ID) + "/log")
		}},
		{http.MethodPost, "/jobs/:id/cancel", server.PermRunJobs, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			return form(jobPath(app.readyJob(n).ID)+"/cancel", url.Values{})(app, c, csrf, n)
		}},
		{http.MethodGet, "/enroll", server.PermConfigure, false, 200, get("/enroll")},
		{http.MethodPost, "/enroll", server.PermConfigure, true, 200, func(app *testApp, c *client, csrf string, n int) response {
			return form("/enroll", url.Values{"host_name": {fmt.Sprintf("web-%d", n)}, "ttl": {"1h"}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/enroll/tokens/:id/revoke", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			return form(revokePath(app, fmt.Sprintf("revoke-%d", n)), url.Values{})(app, c, csrf, n)
		}},
		{http.MethodGet, "/pending-hosts", server.PermRead, false, 200, get("/pending-hosts")},
		{http.MethodPost, "/pending-hosts/:id/accept", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			_, id := app.announce(fmt.Sprintf("pend-%d", n))
			return form(fmt.Sprintf("/pending-hosts/%d/accept", id), url.Values{"name": {fmt.Sprintf("accepted-%d", n)}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/pending-hosts/:id/reject", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			_, id := app.announce(fmt.Sprintf("pend-%d", n))
			return form(fmt.Sprintf("/pending-hosts/%d/reject", id), url.Values{})(app, c, csrf, n)
		}},
		{http.MethodPost, "/pending-hosts/reject", server.PermConfigure, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			_, id := app.announce(fmt.Sprintf("pend-many-%d", n))
			return form("/pending-hosts/reject", url.Values{"ids": {strconv.FormatInt(id, 10)}})(app, c, csrf, n)
		}},
		{http.MethodGet, "/admin/users", server.PermAdmin, false, 200, get("/admin/users")},
		{http.MethodPost, "/admin/users", server.PermAdmin, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			return form("/admin/users", url.Values{"name": {fmt.Sprintf("new%d", n)}, "role": {"admin"}, "password": {"a long enough password"}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/admin/api-tokens", server.PermAdmin, true, 200, form("/admin/api-tokens", url.Values{"user": {"admin"}, "label": {"x"}})},
		{http.MethodGet, "/admin/audit", server.PermAdmin, false, 200, get("/admin/audit")},
		{http.MethodGet, "/metrics", server.PermRead, false, 200, get("/metrics")},
		{http.MethodGet, "/api/v1/hosts", server.PermRead, false, 200, get("/api/v1/hosts")},
		{http.MethodGet, "/api/v1/fleet/summary", server.PermRead, false, 200, get("/api/v1/fleet/summary")},
		{http.MethodGet, "/api/v1/hosts/:id", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/api/v1/hosts/" + app.enrollHost(fmt.Sprintf("api-seen-%d", n)).HostID)
		}},
		{http.MethodPost, "/api/v1/enrollment-tokens", server.PermConfigure, true, 201, func(_ *testApp, c *client, _ string, n int) response {
			return c.postJSON("/api/v1/enrollment-tokens", fmt.Sprintf(`{"host_name":"api-%d","ttl":"2h"}`, n))
		}},
		{http.MethodPost, "/api/v1/hosts/:id/revoke", server.PermConfigure, true, 200, func(app *testApp, c *client, _ string, n int) response {
			name := fmt.Sprintf("api-gone-%d", n)
			return c.postJSON("/api/v1/hosts/"+app.enrollHost(name).HostID+"/revoke", `{"confirm":"`+name+`"}`)
		}},
		{http.MethodGet, "/api/v1/hosts/:id/repository", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/api/v1/hosts/" + app.enrollHost(fmt.Sprintf("api-repo-seen-%d", n)).HostID + "/repository")
		}},
		{http.MethodPut, "/api/v1/hosts/:id/repository", server.PermConfigure, true, 200, func(app *testApp, c *client, _ string, n int) response {
			host := app.onlineHost(fmt.Sprintf("api-repo-set-%d", n))
			return c.do(http.MethodPut, "/api/v1/hosts/"+host.hostID+"/repository", strings.NewReader(`{"url":"/srv/restic","password":"pw"}`),
				http.Header{"Content-Type": {"application/json"}})
		}},
		{http.MethodPost, "/api/v1/hosts/:id/repository/reinit", server.PermConfigure, true, 201, func(app *testApp, c *client, _ string, n int) response {
			name := fmt.Sprintf("api-reinit-%d", n)
			return c.postJSON("/api/v1/hosts/"+app.readyHost(name).hostID+"/repository/reinit", `{"confirm":"`+name+`"}`)
		}},
		{http.MethodPost, "/api/v1/hosts/:id/jobs", server.PermRunJobs, true, 201, func(app *testApp, c *client, _ string, n int) response {
			return c.postJSON("/api/v1/hosts/"+app.readyHost(fmt.Sprintf("api-run-%d", n)).hostID+"/jobs", `{"kind":"check","read_data_subset":"10%"}`)
		}},
		{http.MethodGet, "/api/v1/hosts/:id/snapshots", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/api/v1/hosts/" + app.enrollHost(fmt.Sprintf("api-snaps-%d", n)).HostID + "/snapshots")
		}},
		{http.MethodGet, "/api/v1/hosts/:id/stats", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/api/v1/hosts/" + app.enrollHost(fmt.Sprintf("api-stats-%d", n)).HostID + "/stats?days=30")
		}},
		{http.MethodGet, "/api/v1/hosts/:id/source-groups", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			h, _, _ := app.groupHost(fmt.Sprintf("api-sg-list-%d", n), false)
			return c.get("/api/v1/hosts/" + h.hostID + "/source-groups")
		}},
		{http.MethodPost, "/api/v1/hosts/:id/source-groups", server.PermConfigure, true, 201, func(app *testApp, c *client, _ string, n int) response {
			host := app.readyHost(fmt.Sprintf("api-sg-new-%d", n))
			return c.postJSON("/api/v1/hosts/"+host.hostID+"/source-groups", `{"name":"docs","paths":["/home/docs"],"retention":{"daily":7}}`)
		}},
		{http.MethodGet, "/api/v1/hosts/:id/source-groups/:group", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			h, _, _ := app.groupHost(fmt.Sprintf("api-sg-seen-%d", n), false)
			return c.get("/api/v1/hosts/" + h.hostID + "/source-groups/docs")
		}},
		{http.MethodPut, "/api/v1/hosts/:id/source-groups/:group", server.PermConfigure, true, 200, func(app *testApp, c *client, _ string, n int) response {
			h, _, _ := app.groupHost(fmt.Sprintf("api-sg-put-%d", n), false)
			return c.do(http.MethodPut, "/api/v1/hosts/"+h.hostID+"/source-groups/docs", strings.NewReader(`{"name":"docs","paths":["/srv"]}`),
				http.Header{"Content-Type": {"application/json"}})
		}},
		{http.MethodDelete, "/api/v1/hosts/:id/source-groups/:group", server.PermConfigure, true, 204, func(app *testApp, c *client, _ string, n int) response {
			h, _, _ := app.groupHost(fmt.Sprintf("api-sg-del-%d", n), false)
			return c.do(http.MethodDelete, "/api/v1/hosts/"+h.hostID+"/source-groups/docs", nil, nil)
		}},
		{http.MethodPost, "/api/v1/hosts/:id/source-groups/:group/retention-preview", server.PermConfigure, true, 201, func(app *testApp, c *client, _ string, n int) response {
			h, _, _ := app.groupHost(fmt.Sprintf("api-sg-prev-%d", n), false)
			return c.postJSON("/api/v1/hosts/"+h.hostID+"/source-groups/docs/retention-preview", `{"retention":{"last":2}}`)
		}},
		{http.MethodGet, "/api/v1/hosts/:id/schedules", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			h, _, _ := app.groupHost(fmt.Sprintf("api-sch-list-%d", n), false)
			return c.get("/api/v1/hosts/" + h.hostID + "/schedules")
		}},
		{http.MethodPost, "/api/v1/hosts/:id/schedules", server.PermConfigure, true, 201, func(app *testApp, c *client, _ string, n int) response {
			host := app.readyHost(fmt.Sprintf("api-sch-new-%d", n))
			return c.postJSON("/api/v1/hosts/"+host.hostID+"/schedules", `{"kind":"prune","preset":"weekly","weekday":"saturday","time":"05:30"}`)
		}},
		{http.MethodPut, "/api/v1/hosts/:id/schedules/:sid", server.PermConfigure, true, 200, func(app *testApp, c *client, _ string, n int) response {
			h, _, s := app.groupHost(fmt.Sprintf("api-sch-put-%d", n), false)
			return c.do(http.MethodPut, fmt.Sprintf("/api/v1/hosts/%s/schedules/%d", h.hostID, s.ID), strings.NewReader(`{"kind":"backup","source_group":"docs","cron":"30 2 * * *"}`),
				http.Header{"Content-Type": {"application/json"}})
		}},
		{http.MethodDelete, "/api/v1/hosts/:id/schedules/:sid", server.PermConfigure, true, 204, func(app *testApp, c *client, _ string, n int) response {
			h, _, s := app.groupHost(fmt.Sprintf("api-sch-del-%d", n), false)
			return c.do(http.MethodDelete, fmt.Sprintf("/api/v1/hosts/%s/schedules/%d", h.hostID, s.ID), nil, nil)
		}},
		{http.MethodPost, "/api/v1/hosts/:id/schedules/:sid/pause", server.PermRunJobs, true, 200, func(app *testApp, c *client, _ string, n int) response {
			h, _, s := app.groupHost(fmt.Sprintf("api-sch-pause-%d", n), false)
			return c.postJSON(fmt.Sprintf("/api/v1/hosts/%s/schedules/%d/pause", h.hostID, s.ID), ``)
		}},
		{http.MethodPost, "/api/v1/hosts/:id/schedules/:sid/resume", server.PermRunJobs, true, 200, func(app *testApp, c *client, _ string, n int) response {
			h, _, s := app.groupHost(fmt.Sprintf("api-sch-resume-%d", n), true)
			return c.postJSON(fmt.Sprintf("/api/v1/hosts/%s/schedules/sch_%d/resume", h.hostID, s.ID), ``)
		}},
		{http.MethodPut, "/api/v1/hosts/:id/bandwidth", server.PermConfigure, true, 200, func(app *testApp, c *client, _ string, n int) response {
			host := app.readyHost(fmt.Sprintf("api-bw-%d", n))
			return c.do(http.MethodPut, "/api/v1/hosts/"+host.hostID+"/bandwidth", strings.NewReader(`{"up_kbps":2048}`),
				http.Header{"Content-Type": {"application/json"}})
		}},
		{http.MethodGet, "/api/v1/hosts/:id/hooks", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/api/v1/hosts/" + app.readyHost(fmt.Sprintf("api-hooks-seen-%d", n)).hostID + "/hooks")
		}},
		{http.MethodPut, "/api/v1/hosts/:id/hooks", server.PermConfigure, true, 200, func(app *testApp, c *client, _ string, n int) response {
			host := app.readyHost(fmt.Sprintf("api-hooks-%d", n))
			return c.do(http.MethodPut, "/api/v1/hosts/"+host.hostID+"/hooks", strings.NewReader(`{"post_hook":"echo post"}`),
				http.Header{"Content-Type": {"application/json"}})
		}},
		{http.MethodPut, "/api/v1/hosts/:id/tags", server.PermConfigure, true, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.do(http.MethodPut, "/api/v1/hosts/"+app.enrollHost(fmt.Sprintf("api-tags-%d", n)).HostID+"/tags", strings.NewReader(`{"tags":["laptop"]}`),
				http.Header{"Content-Type": {"application/json"}})
		}},
		{http.MethodPut, "/api/v1/hosts/:id/alerting", server.PermConfigure, true, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.do(http.MethodPut, "/api/v1/hosts/"+app.enrollHost(fmt.Sprintf("api-alert-%d", n)).HostID+"/alerting",
				strings.NewReader(`{"overdue_after_seconds":null,"offline_alert_after_seconds":604800}`), http.Header{"Content-Type": {"application/json"}})
		}},
		{http.MethodGet, "/api/v1/settings/alerting", server.PermRead, false, 200, get("/api/v1/settings/alerting")},
		{http.MethodPut, "/api/v1/settings/alerting", server.PermAdmin, true, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.do(http.MethodPut, "/api/v1/settings/alerting", strings.NewReader(`{"overdue_after_seconds":108000,"offline_alert_after_seconds":172800}`),
				http.Header{"Content-Type": {"application/json"}})
		}},
		{http.MethodPost, "/api/v1/fleet/actions", server.PermRunJobs, true, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.postJSON("/api/v1/fleet/actions", `{"action":"unlock","hosts":["`+app.readyHost(fmt.Sprintf("api-fleet-%d", n)).hostID+`"]}`)
		}},
		{http.MethodGet, "/api/v1/jobs", server.PermRead, false, 200, get("/api/v1/jobs?kind=backup")},
		{http.MethodGet, "/api/v1/jobs/:id", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/api/v1" + jobPath(app.readyJob(n).ID))
		}},
		{http.MethodGet, "/api/v1/jobs/:id/log", server.PermRead, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get("/api/v1" + jobPath(app.readyJob(n).ID) + "/log")
		}},
		{http.MethodPost, "/api/v1/jobs/:id/cancel", server.PermRunJobs, true, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.postJSON("/api/v1"+jobPath(app.readyJob(n).ID)+"/cancel", `{}`)
		}},
		{http.MethodGet, "/api/v1/pending-hosts", server.PermRead, false, 200, get("/api/v1/pending-hosts")},
		{http.MethodPost, "/api/v1/pending-hosts/:id/accept", server.PermConfigure, true, 200, func(app *testApp, c *client, _ string, n int) response {
			_, id := app.announce(fmt.Sprintf("api-pend-%d", n))
			return c.postJSON(fmt.Sprintf("/api/v1/pending-hosts/%d/accept", id), fmt.Sprintf(`{"name":"api-accepted-%d"}`, n))
		}},
		{http.MethodPost, "/api/v1/pending-hosts/:id/reject", server.PermConfigure, true, 200, func(app *testApp, c *client, _ string, n int) response {
			_, id := app.announce(fmt.Sprintf("api-pend-%d", n))
			return c.postJSON(fmt.Sprintf("/api/v1/pending-hosts/%d/reject", id), `{}`)
		}},
		{http.MethodPost, "/api/v1/pending-hosts/reject", server.PermConfigure, true, 200, func(app *testApp, c *client, _ string, n int) response {
			_, id := app.announce(fmt.Sprintf("api-pend-many-%d", n))
			return c.postJSON("/api/v1/pending-hosts/reject", fmt.Sprintf(`{"ids":[%d]}`, id))
		}},
	}, append(append(append(userRoleCases(), notifyRoleCases()...), monitorRoleCases()...), browseRoleCases()...)...) // users, API tokens and accounts: user_roles_test.go; notifications: notify_roles_test.go; monitor settings: monitor_settings_test.go; browsing snapshots: snapshot_browse_test.go
}

// notInMatrix lists authenticated routes the matrix cannot drive, and why.
var notInMatrix = map[string]string{
	"GET /events":                    "a stream: sse_test.go covers it; it needs only PermRead",
	"POST /logout":                   "signs the caller out; login_test.go covers it; it needs only PermRead",
	"POST /api/v1/me/password":       "session-only JSON (API tokens may not change passwords): account_test.go covers it; it needs only PermRead",
	"POST /hosts/:id/upgrade":        "needs agent builds to serve: upgrade_test.go (TestUpgradeRoutesRoles) covers it; admin only",
	"POST /agents/upgrade":           "needs agent builds to serve: upgrade_test.go covers it; admin only",
	"GET /api/v1/hosts/:id/upgrade":  "upgrade_test.go covers it; it needs only PermRead",
	"POST /api/v1/hosts/:id/upgrade": "needs agent builds to serve: upgrade_test.go covers it; admin only",
	"POST /api/v1/agents/upgrade":    "needs agent builds to serve: upgrade_test.go covers it; admin only",
	"GET /hosts/:id/snapshots/:snap/download": "needs a real agent and restic to stream: snapshot_download_test.go refuses a viewer, " +
		"cmd/restic-manager/download_e2e_test.go downloads as an operator; PermRunJobs",
	"GET /api/v1/hosts/:id/snapshots/:snap/download": "as the page's twin above; PermRunJobs",
}

func revokePath(app *testApp, hostName string) string {
	_, tok, err := app.svc.CreateEnrollmentToken(app.t.Context(), server.CLIActor(), hostName, 0)
	if err != nil {
		app.t.Fatal(err)
	}
	return "/enroll/tokens/" + strconv.FormatInt(tok.ID, 10) + "/revoke"
}

// TestRoleMatrix calls every authenticated route as a viewer, an operator
// and an admin, through the dashboard (session + CSRF) and, for API routes,
// with a bearer token. A role without the permission gets 403 and the
// store is untouched; an allowed change leaves exactly one audit row that
// names the user, the address and the channel.
func TestRoleMatrix(t *testing.T) {
	app := newTestApp(t)
	type caller struct {
		browser *client
		csrf    string
		api     *client
	}
	callers := map[server.Role]caller{}
	for _, role := range []server.Role{server.RoleViewer, server.RoleOperator, server.RoleAdmin} {
		b, csrf := app.signedIn(string(role), role)
		callers[role] = caller{browser: b, csrf: csrf, api: app.apiClient(string(role))}
	}

	// Audit rows the cases' own setup writes first, measured rather than
	// assumed: enrolling a host (its token and the enrollment), a host
	// with a repository (and its init job), and a job on such a host.
	rowsOf := func(setup func()) int {
		before := app.auditCount()
		setup()
		return app.auditCount() - before
	}
	enrolled := rowsOf(func() { app.enrollHost("probe-enrolled") })
	ready := rowsOf(func() { app.readyHost("probe-ready") })
	withJob := rowsOf(func() { app.readyJob(-1) })
	grouped := rowsOf(func() { app.groupHost("probe-grouped", false) })
	setupRows := map[string]int{
		"/enroll/tokens/:id/revoke": 1, "/hosts/:id/revoke": enrolled, "/api/v1/hosts/:id/revoke": enrolled,
		"/hosts/:id/jobs": ready, "/api/v1/hosts/:id/jobs": ready,
		"/hosts/:id/repository": enrolled, "/api/v1/hosts/:id/repository": enrolled,
		"/hosts/:id/repository/reinit": ready, "/api/v1/hosts/:id/repository/reinit": ready,
		"/jobs/:id/cancel": withJob, "/api/v1/jobs/:id/cancel": withJob,
		"/hosts/:id/source-groups": ready, "/api/v1/hosts/:id/source-groups": ready,
		"/hosts/:id/schedules": ready, "/api/v1/hosts/:id/schedules": ready,
		"/hosts/:id/bandwidth": ready, "/api/v1/hosts/:id/bandwidth": ready,
		"/hosts/:id/hooks": ready, "/api/v1/hosts/:id/hooks": ready,
		"/hosts/:id/tags": enrolled, "/api/v1/hosts/:id/tags": enrolled,
		"/hosts/:id/alerting": enrolled, "/api/v1/hosts/:id/alerting": enrolled, "/admin/settings/alerting": enrolled,
		"/fleet/actions": ready, "/api/v1/fleet/actions": ready,
		"/hosts/:id/snapshots/:snap/restore": ready,
	}
	// A fleet action (#12.5) on one host writes its one fleet.action row
	// and, through the single-host job path, the job's job.create row.
	alsoRows := map[string]int{
		"/fleet/actions": 1, "/api/v1/fleet/actions": 1,
	}
	for route, rows := range userSetupRows {
		setupRows[route] = rows
	}
	for route, rows := range notifySetupRows(enrolled) {
		setupRows[route] = rows
	}
	for _, tc := range roleCases() {
		if _, ok := setupRows[tc.route]; !ok && tc.change && (strings.Contains(tc.route, "/source-groups/") || strings.Contains(tc.route, "/schedules/")) {
			setupRows[tc.route] = grouped
		}
	}

	n := 0
	for _, tc := range roleCases() {
		for role, who := range callers {
			t.Run(fmt.Sprintf("%s %s as %s", tc.method, tc.route, role), func(t *testing.T) {
				n++
				c, via := who.browser, "web"
				if wantsJSON(&http.Request{URL: &url.URL{Path: tc.route}}) {
					c, via = who.api, "api"
				}
				before := app.auditCount()
				res := tc.call(app, c, who.csrf, n)
				after := app.auditCount() - setupRows[tc.route]
				if !role.Allows(tc.perm) {
					if res.StatusCode != http.StatusForbidden {
						t.Fatalf("status %d, want 403\n%s", res.StatusCode, res.body)
					}
					if via == "api" && apiErrorOf(t, res).Error != server.CodeForbidden {
						t.Errorf("API 403 body: %s", res.body)
					}
					if after != before {
						t.Errorf("audit rows %d -> %d: a forbidden request changed something", before, after)
					}
					return
				}
				if res.StatusCode != tc.okStatus {
					t.Fatalf("status %d, want %d\n%s", res.StatusCode, tc.okStatus, res.body)
				}
				if !tc.change {
					return
				}
				if after != before+1+alsoRows[tc.route] {
					t.Fatalf("audit rows %d -> %d, want %d new row(s)", before, after, 1+alsoRows[tc.route])
				}
				if e := app.lastAudit(); e.Actor != string(role) || e.Role != string(role) || e.Via != via || e.RemoteAddr != "127.0.0.1" {
					t.Errorf("audit row = %+v, want actor %s via %s from 127.0.0.1", e, role, via)
				}
			})
		}
	}
}

// TestRoleMatrixCoversEveryRoute keeps the matrix honest: a new
// authenticated route must be added to it (or to notInMatrix, with a reason),
// and its declared permission must match what the matrix expects.
func TestRoleMatrixCoversEveryRoute(t *testing.T) {
	cases := map[string]roleCase{}
	for _, tc := range roleCases() {
		cases[tc.method+" "+tc.route] = tc
	}
	for _, rt := range (&handler{}).routes() {
		if rt.access != session && rt.access != bearer {
			continue
		}
		key := rt.method + " " + rt.path
		if _, ok := notInMatrix[key]; ok {
			continue
		}
		tc, ok := cases[key]
		if !ok {
			t.Errorf("route %s is not in the role matrix", key)
			continue
		}
		if tc.perm != rt.perm {
			t.Errorf("route %s requires perm %d, the matrix expects %d", key, rt.perm, tc.perm)
		}
	}
}

// TestRoleMatrixJobKinds: who may run which job kind, through the API and
// the host page's forms. Operators run backups, checks, restores, unlocks
// and snapshot listings (and retry an init: restic never inits over a
// repository); a job that removes data (an ad-hoc forget or prune) is an
// admin's. A refusal is a 403 with a sentence, and
// nothing is queued or audited. The host page offers an operator no forget
// or prune form.
func TestRoleMatrixJobKinds(t *testing.T) {
	app := newTestApp(t)
	ctx := t.Context()
	jobsOf := func(hostID string, kind topics.JobKind) int {
		t.Helper()
		list, err := app.svc.ListJobs(ctx, server.JobFilter{HostID: hostID, Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	const (
		forget      = `{"kind":"forget","retention":{"last":3}}`
		forgetPrune = `{"kind":"forget","retention":{"daily":7},"prune":true}`
		dryRun      = `{"kind":"forget","retention":{"last":3},"dry_run":true}`
		prune       = `{"kind":"prune"}`
	)
	refusals := map[string]string{
		forget:      "Your role (operator) may not run forget: removing snapshots is admin-only; ask an admin.",
		forgetPrune: "Your role (operator) may not run forget: removing snapshots and the data only they use is admin-only; ask an admin.",
		prune:       "Your role (operator) may not run prune: removing data from the repository is admin-only; ask an admin.",
	}
	allowed := map[server.Role][]string{
		server.RoleOperator: {`{"kind":"backup","paths":["/etc"]}`, `{"kind":"check"}`, `{"kind":"unlock"}`, `{"kind":"snapshots"}`,
			`{"kind":"restore","snapshot":"latest","target":"/srv/restore"}`, dryRun, `{"kind":"init"}`, `{"kind":"drill","drill":{"files":5}}`},
		server.RoleAdmin: {forget, forgetPrune, prune, `{"kind":"backup","paths":["/etc"]}`},
	}

	t.Run("API", func(t *testing.T) {
		op := app.apiClient(string(servertest.MustCreateUser(t, app.svc, "api-op", server.RoleOperator).Name))
		host := app.readyHost("kinds-api-op")
		for body, want := range refusals {
			kind := topics.JobKind(strings.Split(strings.Split(body, `"kind":"`)[1], `"`)[0])
			before, audits := jobsOf(host.hostID, kind), app.auditCount()
			res := op.postJSON("/api/v1/hosts/"+host.hostID+"/jobs", body)
			if res.StatusCode != http.StatusForbidden {
				t.Fatalf("operator %s: %d %s", body, res.StatusCode, res.body)
			}
			if e := apiErrorOf(t, res); e.Error != server.CodeForbidden || e.Message != want {
				t.Errorf("operator %s: %+v, want %q", body, e, want)
			}
			if jobsOf(host.hostID, kind) != before || app.auditCount() != audits {
				t.Errorf("operator %s: a refused job was queued or audited", body)
			}
		}
		for role, bodies := range allowed {
			c := app.apiClient(string(servertest.MustCreateUser(t, app.svc, "api-"+string(role)+"-ok", role).Name))
			host := app.readyHost("kinds-api-ok-" + string(role))
			for _, body := range bodies {
				if res := c.postJSON("/api/v1/hosts/"+host.hostID+"/jobs", body); res.StatusCode != http.StatusCreated {
					t.Errorf("%s %s: %d %s", role, body, res.StatusCode, res.body)
				}
			}
		}
		if res := app.apiClient(string(servertest.MustCreateUser(t, app.svc, "api-viewer", server.RoleViewer).Name)).
			postJSON("/api/v1/hosts/"+host.hostID+"/jobs", forget); res.StatusCode != http.StatusForbidden {
			t.Errorf("viewer forget: %d", res.StatusCode)
		}
	})

	t.Run("form", func(t *testing.T) {
		forms := map[topics.JobKind]url.Values{
			topics.JobForget: {"kind": {"forget"}, "keep_last": {"3"}, "prune": {"1"}},
			topics.JobPrune:  {"kind": {"prune"}},
		}
		op, opCSRF := app.signedIn("form-op", server.RoleOperator)
		admin, adminCSRF := app.signedIn("form-admin", server.RoleAdmin)
		host := app.readyHost("kinds-form")
		for kind, f := range forms {
			f.Set("csrf_token", opCSRF)
			before, audits := jobsOf(host.hostID, kind), app.auditCount()
			res := op.postForm("/hosts/"+host.hostID+"/jobs", f)
			if res.StatusCode != http.StatusForbidden || !strings.Contains(res.body, "Your role (operator) may not run "+string(kind)+": removing") {
				t.Fatalf("operator's %s form: %d\n%s", kind, res.StatusCode, res.body)
			}
			if jobsOf(host.hostID, kind) != before || app.auditCount() != audits {
				t.Errorf("operator's %s form queued or audited something", kind)
			}
			f.Set("csrf_token", adminCSRF)
			if res := admin.postForm("/hosts/"+host.hostID+"/jobs", f); res.StatusCode != http.StatusSeeOther || jobsOf(host.hostID, kind) != before+1 {
				t.Errorf("admin's %s form: %d", kind, res.StatusCode)
			}
		}
		if res := op.postForm("/hosts/"+host.hostID+"/jobs", url.Values{"csrf_token": {opCSRF}, "kind": {"unlock"}}); res.StatusCode != http.StatusSeeOther {
			t.Errorf("operator's unlock form: %d", res.StatusCode)
		}

		page := op.get("/hosts/" + host.hostID).body
		mustContain(t, "operator's host page", page, `name="kind" value="check"`, `name="kind" value="unlock"`, `name="kind" value="backup"`,
			"only an admin runs them by hand")
		for _, kind := range []string{"forget", "prune"} {
			if strings.Contains(page, `name="kind" value="`+kind+`"`) {
				t.Errorf("the operator's host page offers %s", kind)
			}
		}
		mustContain(t, "admin's host page", admin.get("/hosts/"+host.hostID).body, `name="kind" value="forget"`, `name="kind" value="prune"`)
	})
}
