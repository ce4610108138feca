// Package server is the domain of restic-manager: everything the web layer
// and the command line may do to the fleet, with its rules, its audit rows
// and its SQLite store.
//
// The Service type is the one entry point the web layer and the command line
// use. Every state-changing method takes the Actor doing it, checks the actor's
// role (the web layer checks too: defence in depth) and writes the audit row in
// the same transaction as the change.
//
// # Seams
//
// The package is one Go package (the Service facade is shared), cut into
// seams by file prefix. A file belongs to exactly one seam; a new feature
// goes into the seam that owns its data, or gets a new prefix listed here
// and in docs/architecture.md (core_layout_test.go keeps the list honest).
//
//   - core_    the Service itself, the database and its migrations, errors,
//     the audit log, the event bus, settings and /healthz.
//   - auth_    identity and access: users over their whole life (disable,
//     enable, delete, roles, passwords with the last-admin guard), sessions,
//     API tokens, roles, the sign-in throttle and the TOTP second factor.
//   - fleet_   hosts and their presence: enrollment by token, announce and
//     approve, the pending queue, revocation, online/offline, the MQTT
//     monitor accounts, agent upgrades, host tags and fleet actions, and
//     host health (overdue, offline past a threshold; fleet_health.go).
//   - config_  what a host is told to do: its repository (sealed), source
//     groups, schedules, bandwidth, hooks, and the one versioned config built
//     from them (config_build.go) and delivered on down/config.
//   - jobs_    the job state machine, who may run what, commands and their
//     resends after hello, the sweep, live progress and retention previews.
//   - ingest_  the store-first-then-ack path for job events, logs, snapshot
//     reports and schedule-started jobs (ingest_queue.go explains it).
//   - pki_     the server's CA and the secret box that seals data at rest.
//   - notify_  notifications: channels (webhook, shoutrrr, healthchecks;
//     URLs sealed), routing by event and host tag, mute, throttle, daily
//     digests, and the durable outbox with its delivery worker.
//   - browse_  asking an agent and waiting for its answer (#14): a query on
//     down/query, its reply on up/reply, matched by request id, bounded,
//     timed out, never stored (browse a snapshot's tree, search, diff).
//
// Seams call each other through Service methods.
//
// # Who writes which table
//
// Every table has an owning seam, and only the owner's files write it
// (INSERT, UPDATE, DELETE). Another seam changes it by calling the owner's
// function, inside its own transaction when the two changes must be atomic:
// config_ queues a repository's init job through jobs_, the job sweep drops
// stale snapshot report parts through ingest_, auth_ writes its settings
// keys through core_'s writeSetting. One row is shared: a hosts row belongs
// to fleet_, except its config columns, which only config_ writes, and the
// columns that say which health transition was told, notify_'s. jobs_ and
// ingest_ share the jobs table (jobs_ queues, cancels and expires; ingest_
// records what the agent reports).
//
//	core_           schema_migrations settings audit_log
//	auth_           users sessions api_tokens login_challenges totp_recovery_codes
//	fleet_          hosts host_tags enrollment_tokens pending_hosts announce_challenges pending_clients announce_rates monitor_accounts agent_upgrades
//	config_         repositories source_groups schedules hosts.config_version hosts.applied_config_version hosts.bandwidth_up_kbps hosts.bandwidth_down_kbps hosts.pre_hook_sealed hosts.post_hook_sealed hosts.hook_timeout_seconds
//	jobs_ ingest_   jobs
//	ingest_         job_log_chunks snapshots snapshot_lists snapshot_report_parts repository_stats
//	notify_         notification_channels notification_deliveries notification_host_settings hosts.overdue_told_since hosts.offline_told_since
//	browse_         download_relays download_chunks
//
// (core_layout_test.go holds every write statement of the package to this
// table.) Reading another seam's table in a join is fine where one query is
// cheaper than two; the SQL stays hand-written, in this package.
//
// This package must not import Gin (web does HTTP), must not import the broker
// (cmd wires the two through small interfaces such as Publisher), and must
// not link the testing package (helpers for other packages' tests live in
// servertest).
package server
