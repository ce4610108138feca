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
// This package must not write SQL, must not import the broker or the agent,
// and must not log secrets: the access log records method, route, status,
// duration and client address, never query strings, cookies or bodies.
//
// The stylesheet and the HTMX files under static/ are built by Node tooling
// and committed, so `go build` needs no Node. Rebuild them with
// `npm --prefix web ci && npm --prefix web run build` (see package.json).
package web
