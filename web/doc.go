// Package web is restic-manager's HTTP face: the dashboard (server-rendered
// HTML with HTMX), its live updates over Server-Sent Events, and the JSON API
// that scripts and agents use.
//
// The shape follows miniflux: one unexported handler struct holds the
// dependencies, each handler is a method on it in a file named
// <resource>_<action>.go, and every route is listed once, with who may call
// it, in routes.go. Templates are embedded and parsed once at start-up from an
// explicit page-to-partials map (templates.go), so a broken template stops the
// server instead of a page. Form and JSON input goes through small structs
// that validate themselves (form_*.go, api_decode.go).
//
// Security lives here as well as in the domain: every route states the
// permission it needs and the route table enforces it before the handler
// runs; browser sessions are HttpOnly, SameSite=Lax cookies that carry a
// per-session CSRF token checked on every state-changing request; API calls
// authenticate with a bearer token and need no CSRF token because browsers
// never send one on their own. The domain (package server) checks the actor's
// role again and writes the audit row for every change.
//
// Live pages follow one Server-Sent Events stream each (/events, with
// ?host=, ?job= or ?jobs=1 saying what the page shows). The hub
// (sse_hub.go) drains domain events in batches and renders each changed
// fragment once for every page that shows it; the element that listens
// for an event is never swapped itself, only its contents. Job logs and
// progress go out per tick rather than per event, and each job page is
// sent only the log lines after the last one it has (sse_jobs.go), so a
// job printing thousands of lines a second costs one log query per tick.
// A stream ends as soon as its user's access changes (disabled, deleted,
// demoted, signed out elsewhere), also when the CLI made the change
// (sse_users.go).
//
// Source groups and schedules (#4) are edited as presets ("daily at
// 03:00" in a time zone, with jitter and catch-up) and stored as cron
// (schedule_preset.go); the agent runs them itself. Host pages re-read
// their Sources and Schedules lists on "config-changed" (a config change or
// a job of the host), and dashboard rows carry "Next:" and "Last:" from one
// FleetPlans read per render or per batch of events.
//
// Repository secrets are write-only here: forms and API bodies take them,
// nothing renders or returns them, and a refused form never fills them in
// again (only a repository URL that holds no password comes back).
//
// This package must not write SQL, must not import the broker or the agent,
// and must not log secrets: the access log records method, route, status,
// duration and client address, never query strings, cookies or bodies.
//
// The stylesheet and the HTMX files under static/ are built by Node tooling
// and committed, so `go build` needs no Node. Rebuild them with
// `npm --prefix web ci && npm --prefix web run build` (see package.json).
package web
