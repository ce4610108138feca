// Package server is the domain of restic-manager: hosts, enrollment (by token,
// and announce-and-approve for machines without one), users, sessions, API
// tokens, roles, the audit log, presence, secrets at rest and the SQLite store
// they live in; and jobs (#3): each host's repository (sealed, delivered in
// the versioned down/config), the versioned job state machine, commands and
// their resends after hello, and the store-first-then-ack ingest of job
// events, logs and snapshot reports (ingest_queue.go explains the pipeline);
// and #4: source groups, schedules (run by the agent itself; the server
// shows next and last runs), host bandwidth caps and retention previews, all
// delivered in the one config hostConfig builds (config_build.go), and the
// jobs the agent starts from a schedule, created from their first event
// (ingest_origin.go). Users over their whole life (#9): disable, enable,
// delete, roles and passwords with the last-admin guard (users_lifecycle.go),
// API tokens listed and revoked, and a TOTP second factor with recovery
// codes and a two-step sign-in (totp.go, totp_login.go).
//
// The Service type is the one entry point the web layer and the command line
// use. Every state-changing method takes the Actor doing it, checks the actor's
// role (the web layer checks too: defence in depth) and writes the audit row in
// the same transaction as the change.
//
// This package must not import Gin (web does HTTP), must not import the broker
// (cmd wires the two through small interfaces such as Publisher), and keeps all
// SQL here: one file per table, hand-written queries.
package server
