package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// access says how a caller proves who they are on a route.
type access int

const (
	// anyone: no identity needed (health, static files, the CA certificate).
	anyone access = iota
	// signIn: the sign-in form; it has no session yet, so its CSRF token is
	// a double-submit cookie (login_submit.go).
	signIn
	// session: a browser with a session cookie; state changes need the
	// session's CSRF token.
	session
	// bearer: Authorization: Bearer <API token>; no cookies, so no CSRF.
	bearer
	// enrollToken: an agent proving itself with the single-use enrollment
	// token in the body; failed attempts are rate-limited per address.
	enrollToken
	// agentUpload: an agent sending a download's bytes (#14): its host id
	// and MQTT password as basic auth, a one-time upload token in the
	// path, checked by the domain (server.AttachUpload). The body streams:
	// no size cap, read under an idle deadline (agent_upload.go).
	agentUpload
)

// route is one line of the route table: what it answers, who may call it
// and with which permission.
type route struct {
	method string
	path   string
	access access
	perm   server.Perm // checked for session and bearer routes
	handle gin.HandlerFunc
}

// routes is the one route table of the application. The permission column
// is enforced by middleware before any handler runs (see mount), so a
// handler can never forget it; the domain checks the actor's role again.
func (h *handler) routes() []route {
	const (
		get, post, put, head = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodHead
		del                  = http.MethodDelete
		read                 = server.PermRead
		runJobs              = server.PermRunJobs
		configure            = server.PermConfigure
		admin                = server.PermAdmin
	)
	return []route{
		// Dashboard pages.
		{get, "/login", signIn, read, h.showLogin},
		{post, "/login", signIn, read, h.submitLogin},
		{get, "/login/totp", signIn, read, h.showLoginCode},
		{post, "/login/totp", signIn, read, h.submitLoginCode},
		{post, "/logout", session, read, h.submitLogout},
		{get, "/", session, read, h.showDashboard},
		{get, "/hosts/:id", session, read, h.showHost},
		{get, "/hosts/:id/snapshots/:snap/restore", session, runJobs, h.showRestore},
		{post, "/hosts/:id/snapshots/:snap/restore", session, runJobs, h.createRestore},
		{post, "/hosts/:id/revoke", session, configure, h.revokeHost},
		{post, "/hosts/:id/jobs", session, runJobs, h.createHostJob},
		{get, "/hosts/:id/snapshots/:snap/download", session, runJobs, h.downloadSnapshot},
		{get, "/hosts/:id/snapshots/:snap/tree", session, read, h.showSnapshotTree},
		{get, "/hosts/:id/snapshots/find", session, read, h.showSnapshotFind},
		{get, "/hosts/:id/snapshots/diff", session, read, h.pickSnapshotDiff},
		{get, "/hosts/:id/snapshots/:snap/diff/:other", session, read, h.showSnapshotDiff},
		{get, "/hosts/:id/repository", session, read, h.showRepository},
		{post, "/hosts/:id/repository", session, configure, h.setRepository},
		{post, "/hosts/:id/repository/reinit", session, configure, h.reinitRepository},
		{get, "/hosts/:id/source-groups/:group", session, read, h.showSourceGroup},
		{post, "/hosts/:id/source-groups", session, configure, h.createSourceGroup},
		{post, "/hosts/:id/source-groups/:group", session, configure, h.updateSourceGroup},
		{post, "/hosts/:id/source-groups/:group/delete", session, configure, h.deleteSourceGroup},
		{post, "/hosts/:id/source-groups/:group/retention-preview", session, configure, h.previewRetention},
		{post, "/hosts/:id/schedules", session, configure, h.createSchedule},
		{post, "/hosts/:id/schedules/:sid", session, configure, h.updateSchedule},
		{post, "/hosts/:id/schedules/:sid/delete", session, configure, h.deleteSchedule},
		{post, "/hosts/:id/schedules/:sid/pause", session, runJobs, h.pauseSchedule},
		{post, "/hosts/:id/schedules/:sid/resume", session, runJobs, h.resumeSchedule},
		{post, "/hosts/:id/bandwidth", session, configure, h.setBandwidth},
		{post, "/hosts/:id/hooks", session, configure, h.setHostHooks},
		{post, "/hosts/:id/tags", session, configure, h.setHostTags},
		{post, "/hosts/:id/alerting", session, configure, h.setHostAlerting},
		{post, "/fleet/actions", session, runJobs, h.runFleetAction},
		{post, "/hosts/:id/upgrade", session, admin, h.upgradeHost},
		{post, "/agents/upgrade", session, admin, h.upgradeAgents},
		{get, "/jobs", session, read, h.listJobs},
		{get, "/jobs/:id", session, read, h.showJob},
		{get, "/jobs/:id/log", session, read, h.showJobLog},
		{get, "/jobs/:id/preview", session, read, h.showRetentionPreview},
		{post, "/jobs/:id/cancel", session, runJobs, h.cancelJob},
		{get, "/events", session, read, h.streamEvents},
		{get, "/enroll", session, configure, h.showEnroll},
		{post, "/enroll", session, configure, h.createEnrollmentToken},
		{post, "/enroll/tokens/:id/revoke", session, configure, h.revokeEnrollmentToken},
		{get, "/pending-hosts", session, read, h.listPendingHosts},
		{post, "/pending-hosts/:id/accept", session, configure, h.acceptPendingHost},
		{post, "/pending-hosts/:id/reject", session, configure, h.rejectPendingHost},
		{post, "/pending-hosts/reject", session, configure, h.rejectPendingHosts},
		{get, "/admin/users", session, admin, h.listUsers},
		{post, "/admin/users", session, admin, h.createUser},
		{post, "/admin/api-tokens", session, admin, h.createAPIToken},
		{post, "/admin/api-tokens/:id/revoke", session, admin, h.revokeAPIToken},
		{get, "/admin/users/:id", session, admin, h.showUser},
		{post, "/admin/users/:id/role", session, admin, h.setUserRole},
		{post, "/admin/users/:id/disable", session, admin, h.disableUser},
		{post, "/admin/users/:id/enable", session, admin, h.enableUser},
		{post, "/admin/users/:id/password", session, admin, h.resetUserPassword},
		{post, "/admin/users/:id/totp-reset", session, admin, h.resetUserTOTP},
		{post, "/admin/users/:id/delete", session, admin, h.deleteUser},
		{post, "/admin/settings/require-totp", session, admin, h.setRequireTOTP},
		{post, "/admin/settings/monitor", session, admin, h.setMonitorSettings},
		{post, "/admin/settings/alerting", session, admin, h.setAlertingSettings},
		{get, "/account", session, read, h.showAccount},
		{post, "/account/password", session, read, h.changeOwnPassword},
		{post, "/account/totp", session, read, h.beginTOTP},
		{post, "/account/totp/confirm", session, read, h.confirmTOTP},
		{post, "/account/totp/disable", session, read, h.disableTOTP},
		{get, "/admin/audit", session, admin, h.listAudit},
		{get, "/admin/notifications", session, admin, h.showNotifications},
		{post, "/admin/notifications", session, admin, h.createNotificationChannel},
		{post, "/admin/notifications/:cid", session, admin, h.editNotificationChannel},
		{post, "/admin/notifications/:cid/test", session, admin, h.sendTestNotification},
		{post, "/admin/notifications/:cid/delete", session, admin, h.deleteNotificationChannel},
		{post, "/admin/notifications/hosts/:id", session, admin, h.setHostNotifications},

		// JSON API and machine endpoints.
		{get, "/healthz", anyone, read, h.showHealth},
		{head, "/healthz", anyone, read, h.showHealth}, // some load balancers probe with HEAD
		{get, "/metrics", bearer, read, h.showMetrics},
		{get, "/api/v1/hosts", bearer, read, h.apiListHosts},
		{get, "/api/v1/fleet/summary", bearer, read, h.apiFleetSummary},
		{get, "/api/v1/hosts/:id", bearer, read, h.apiShowHost},
		{post, "/api/v1/hosts/:id/revoke", bearer, configure, h.apiRevokeHost},
		{get, "/api/v1/hosts/:id/repository", bearer, read, h.apiShowRepository},
		{put, "/api/v1/hosts/:id/repository", bearer, configure, h.apiSetRepository},
		{post, "/api/v1/hosts/:id/repository/reinit", bearer, configure, h.apiReinitRepository},
		{post, "/api/v1/hosts/:id/jobs", bearer, runJobs, h.apiCreateJob},
		{get, "/api/v1/hosts/:id/snapshots", bearer, read, h.apiListSnapshots},
		{get, "/api/v1/hosts/:id/snapshots/:snap/tree", bearer, read, h.apiSnapshotTree},
		{get, "/api/v1/hosts/:id/snapshots/find", bearer, read, h.apiSnapshotFind},
		{get, "/api/v1/hosts/:id/snapshots/:snap/diff/:other", bearer, read, h.apiSnapshotDiff},
		{get, "/api/v1/hosts/:id/snapshots/:snap/download", bearer, runJobs, h.downloadSnapshot},
		{get, "/api/v1/hosts/:id/stats", bearer, read, h.apiHostStats},
		{get, "/api/v1/hosts/:id/source-groups", bearer, read, h.apiListSourceGroups},
		{post, "/api/v1/hosts/:id/source-groups", bearer, configure, h.apiCreateSourceGroup},
		{get, "/api/v1/hosts/:id/source-groups/:group", bearer, read, h.apiShowSourceGroup},
		{put, "/api/v1/hosts/:id/source-groups/:group", bearer, configure, h.apiUpdateSourceGroup},
		{del, "/api/v1/hosts/:id/source-groups/:group", bearer, configure, h.apiDeleteSourceGroup},
		{post, "/api/v1/hosts/:id/source-groups/:group/retention-preview", bearer, configure, h.apiPreviewRetention},
		{get, "/api/v1/hosts/:id/schedules", bearer, read, h.apiListSchedules},
		{post, "/api/v1/hosts/:id/schedules", bearer, configure, h.apiCreateSchedule},
		{put, "/api/v1/hosts/:id/schedules/:sid", bearer, configure, h.apiUpdateSchedule},
		{del, "/api/v1/hosts/:id/schedules/:sid", bearer, configure, h.apiDeleteSchedule},
		{post, "/api/v1/hosts/:id/schedules/:sid/pause", bearer, runJobs, h.apiPauseSchedule},
		{post, "/api/v1/hosts/:id/schedules/:sid/resume", bearer, runJobs, h.apiResumeSchedule},
		{put, "/api/v1/hosts/:id/bandwidth", bearer, configure, h.apiSetBandwidth},
		{get, "/api/v1/hosts/:id/hooks", bearer, read, h.apiShowHostHooks},
		{put, "/api/v1/hosts/:id/hooks", bearer, configure, h.apiSetHostHooks},
		{put, "/api/v1/hosts/:id/tags", bearer, configure, h.apiSetHostTags},
		{put, "/api/v1/hosts/:id/alerting", bearer, configure, h.apiSetHostAlerting},
		{get, "/api/v1/settings/alerting", bearer, read, h.apiShowAlertingSettings},
		{put, "/api/v1/settings/alerting", bearer, admin, h.apiSetAlertingSettings},
		{post, "/api/v1/fleet/actions", bearer, runJobs, h.apiRunFleetAction},
		{get, "/api/v1/hosts/:id/upgrade", bearer, read, h.apiShowUpgrade},
		{post, "/api/v1/hosts/:id/upgrade", bearer, admin, h.apiUpgradeHost},
		{post, "/api/v1/agents/upgrade", bearer, admin, h.apiUpgradeAgents},
		{get, "/api/v1/jobs", bearer, read, h.apiListJobs},
		{get, "/api/v1/jobs/:id", bearer, read, h.apiShowJob},
		{get, "/api/v1/jobs/:id/log", bearer, read, h.apiJobLog},
		{post, "/api/v1/jobs/:id/cancel", bearer, runJobs, h.apiCancelJob},
		{post, "/api/v1/enrollment-tokens", bearer, configure, h.apiCreateEnrollmentToken},
		{get, "/api/v1/pending-hosts", bearer, read, h.apiListPendingHosts},
		{post, "/api/v1/pending-hosts/:id/accept", bearer, configure, h.apiAcceptPendingHost},
		{post, "/api/v1/pending-hosts/:id/reject", bearer, configure, h.apiRejectPendingHost},
		{post, "/api/v1/pending-hosts/reject", bearer, configure, h.apiRejectPendingHosts},
		{get, "/api/v1/users", bearer, admin, h.apiListUsers},
		{post, "/api/v1/users", bearer, admin, h.apiCreateUser},
		{get, "/api/v1/users/:id", bearer, admin, h.apiShowUser},
		{put, "/api/v1/users/:id", bearer, admin, h.apiUpdateUser},
		{del, "/api/v1/users/:id", bearer, admin, h.apiDeleteUser},
		{post, "/api/v1/users/:id/password", bearer, admin, h.apiResetUserPassword},
		{del, "/api/v1/users/:id/totp", bearer, admin, h.apiResetUserTOTP},
		{get, "/api/v1/settings/monitor", bearer, admin, h.apiShowMonitorSettings},
		{put, "/api/v1/settings/monitor", bearer, admin, h.apiSetMonitorSettings},
		{get, "/api/v1/api-tokens", bearer, admin, h.apiListAPITokens},
		{post, "/api/v1/api-tokens", bearer, admin, h.apiCreateAPIToken},
		{del, "/api/v1/api-tokens/:id", bearer, admin, h.apiRevokeAPIToken},
		{get, "/api/v1/notification-channels", bearer, admin, h.apiListNotificationChannels},
		{post, "/api/v1/notification-channels", bearer, admin, h.apiCreateNotificationChannel},
		{get, "/api/v1/notification-channels/:cid", bearer, admin, h.apiShowNotificationChannel},
		{put, "/api/v1/notification-channels/:cid", bearer, admin, h.apiUpdateNotificationChannel},
		{del, "/api/v1/notification-channels/:cid", bearer, admin, h.apiDeleteNotificationChannel},
		{post, "/api/v1/notification-channels/:cid/test", bearer, admin, h.apiTestNotificationChannel},
		{get, "/api/v1/notification-deliveries", bearer, admin, h.apiListNotificationDeliveries},
		{get, "/api/v1/hosts/:id/notifications", bearer, admin, h.apiShowHostNotifications},
		{put, "/api/v1/hosts/:id/notifications", bearer, admin, h.apiSetHostNotifications},
		// Own password: a browser session only, never an API token (account_password.go).
		{post, "/api/v1/me/password", session, read, h.apiChangeOwnPassword},
		{post, "/api/v1/agents/enroll", enrollToken, read, h.apiEnrollAgent},
		{get, "/api/v1/agents/bootstrap", anyone, read, h.apiAgentBootstrap},
		{post, "/api/v1/agents/bootstrap", anyone, read, h.apiAgentBootstrapAnnounce},
		{get, "/api/v1/openapi.json", anyone, read, h.serveOpenAPI}, // shapes, not data: public (docs/DECISIONS.md)
		{post, "/agent/v1/uploads/:token", agentUpload, read, h.receiveUpload},

		// Files.
		{get, "/static/*path", anyone, read, h.serveStatic},
		{get, "/favicon.ico", anyone, read, h.serveFavicon},
		{get, "/ca.pem", anyone, read, h.serveCACert},
		{get, "/install.sh", anyone, read, h.serveInstallScript},
		{get, "/install.ps1", anyone, read, h.serveInstallScript},
		{get, "/agent/binaries", anyone, read, h.listAgentBinaries},
		{get, "/agent/binary", anyone, read, h.showAgentBinary},
		{head, "/agent/binary", anyone, read, h.showAgentBinary}, // size and checksum before a download
	}
}

// mount registers the global middleware and every route of the table with
// the chain its access kind requires.
func (h *handler) mount(e *gin.Engine) {
	e.Use(h.recoverPanics, h.accessLog, h.securityHeaders)
	for _, rt := range h.routes() {
		var chain []gin.HandlerFunc
		if rt.access != agentUpload {
			chain = append(chain, limitBody(1<<20))
		}
		switch rt.access {
		case agentUpload:
			chain = append(chain, via("agent"))
		case anyone:
		case signIn:
			chain = append(chain, via("web"), h.readAnonymousBody, h.checkSignInCSRF)
		case session:
			chain = append(chain, via("web"), h.requireSession, h.checkCSRF, h.requirePerm(rt.perm))
		case bearer:
			chain = append(chain, via("api"), h.requireBearer, h.requirePerm(rt.perm))
		case enrollToken:
			chain = append(chain, via("agent"), h.readAnonymousBody, h.limitEnroll)
		}
		e.Handle(rt.method, rt.path, append(chain, rt.handle)...)
	}
	e.NoRoute(h.notFound)
	e.NoMethod(h.methodNotAllowed)
}

// via records in the context how the caller reached us, for the Actor.
func via(v string) gin.HandlerFunc {
	return func(c *gin.Context) { c.Set(ctxVia, v) }
}

// limitBody caps request bodies: nothing here legitimately sends more,
// but an agent's upload of a download, which streams (agentUpload).
func limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		}
	}
}
