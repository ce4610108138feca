// Package agent is the restic-manager agent: the program that runs on every
// backed-up machine, keeps an MQTT connection to the server's embedded
// broker, applies the desired config the server sends, and runs restic jobs
// from a durable journal, reporting them through a durable outbox (DESIGN §3
// "Jobs" and "Nothing lost, nothing run twice").
//
// What is here:
//
//   - Config: the YAML file `enroll` writes and `run` reads (config.go), with
//     atomic 0600 writes and a redacted String.
//   - Enroll: the token exchange over HTTPS, with the server's CA pinned by
//     fingerprint (enroll.go, enroll_tls.go, enroll_response.go).
//   - Agent: the connection loop (agent.go, session.go, dial.go): one fresh
//     paho client per attempt, exponential backoff with jitter, a connection
//     generation persisted in state_dir (conngen.go) that goes into the Last
//     Will and into hello, heartbeats, and the receiving side of down/#
//     (inbound.go).
//   - Jobs: the state Run opens in state_dir (state.go): the command journal
//     and the outbox (package outbox), the applied desired config
//     (desired_config.go), the stale-lock mark (stale_lock.go). Commands and
//     configs are handled in arrival order by the dispatcher (dispatch.go);
//     jobs wait in a FIFO queue and run one at a time (job_queue.go,
//     job_run.go, job_op.go, job_result.go); their log lines, progress,
//     state changes and snapshot lists go out through job_log.go,
//     job_progress.go, job_events.go and snapshot_report.go; the sender
//     (sender.go) publishes the outbox; recover.go deals with what a
//     previous run left unfinished. The scheduler (scheduler.go,
//     schedule_slots.go, schedule_state.go, scheduled_job.go) runs the
//     applied config's schedules as jobs of its own.
//   - Announce: enrollment without a token (DESIGN §4.2). The bootstrap
//     request for the broker and its CA, pinned like enroll (bootstrap.go,
//     with what enroll and announce share in server_api.go); the Ed25519
//     identity and X25519 seal keys kept in state_dir (announce_keys.go);
//     the pending MQTT client that announces, proves its key, prints the
//     banner and waits (announce.go, announce_session.go); and turning
//     the sealed approval into the config (announce_approval.go).
//   - The OS service wrapper (service.go): under the Windows service manager
//     a stop cancels the agent, which stops a running restic gracefully, and
//     waits past restic's cancel grace; warnings, errors and the service's
//     start and stop also go to the Event Log (service_log.go). And restic
//     version detection (restic_version.go). restic itself runs through
//     package restic.
//
// # Jobs, as the agent runs them
//
// Config (down/config): applied only if its version is newer than the
// applied one; stored in state_dir/desired_config.json with mode 0600 (it holds the
// repository password) by write-temp, fsync, rename; loaded at start;
// reported in hello and, right after applying, in a status.
//
// Run (down/cmd): the job id is journaled (the command as detail) before
// anything else. A job id the journal knows never runs again: if it
// finished, its recorded terminal event goes out again through the outbox;
// if it waits or runs, the duplicate is ignored. A command past expires_at
// (on arrival or when its turn comes) is answered "expired" and restic never
// runs. Otherwise "delivered", then a FIFO queue: one restic operation at a
// time. A job whose config_version is newer than the applied config waits
// at the head of the queue for it (saying so in its log) until it expires;
// a job queued behind another says that in its log too.
// When its turn comes: the journal records that restic starts, "running",
// `restic unlock` first if a stale lock may exist, restic, then the whole
// log, then one terminal event with the result. If the job changed the
// snapshots (a backup made one, a forget removed some), the worker then
// lists them (`restic snapshots`) and sends the snapshot report naming
// the job: after the terminal event, so the job's duration and result
// do not wait for it, but before the next job (one restic at a time). That
// step logs to the agent's own log, never the job's, which is complete; a
// failure is logged, leaves the job as it ended and is tried again after
// the next job; a stale-lock mark is held while it runs (no journaled job
// would say that an agent killed meanwhile may have left a lock). A job
// that cannot run here (no repository, a restore target that does not
// exist, a path that is not absolute on this OS) fails with a one-sentence
// reason and restic never runs.
//
// Versions: the first event carries the command's version + 1 and each next
// one + 1 (delivered V+1, running V+2, terminal V+3, or terminal V+2 when
// restic never ran). After a restart they are derived again from V and
// whether restic had started (see job.go).
//
// Schedules (#4): the agent runs the applied config's schedules itself,
// whether or not the server is reachable. A schedule's cron, read in its
// time zone, gives its slots; a run starts at its slot plus a random
// 0..JitterSeconds. Each run is one job per spec (a backup of the source
// group, with its tags and the group tag, forget after it if the group
// says so; a host-wide forget: one per group with a retention policy, on
// the group's tag; prune; check) with a new random job id, journaled like
// a received command (the detail holds the command and its origin, so a
// restart reports it interrupted or queues it again), queued in the same
// FIFO as the server's jobs, expiring a day after it was made. Every
// event of it carries Origin (schedule, slot, catch-up, spec), from which
// the server creates the job; its versions start at delivered = 2. Per
// schedule, state_dir/schedules.json keeps the last slot run and since
// when the agent has run the schedule in its current form (first seen,
// cron or zone changed, resumed); the slot is stored before the job is
// journaled, so a crash in between loses a run rather than running one
// twice. Catch-up: at start and whenever a config is applied, a schedule
// with CatchUp whose latest slot up to now is after both runs once, at
// once, however many slots were missed; a new or resumed schedule does
// not catch up. A paused or removed schedule stops at once; a run that
// comes due more than a day late (the machine slept) is skipped with a
// log line. Host bandwidth caps (Config.Bandwidth) go on every restic
// run, a job's own limits winning direction by direction.
//
// Cancel (down/cmd): a running job's restic is stopped gracefully (SIGINT;
// it removes its lock) and the job ends "canceled"; a waiting job is dropped
// and ends "canceled" without running; an unknown job is journaled as
// finished "canceled" (version 2, or the command's + 1) so that a run
// arriving later never runs.
//
// Restart: jobs the journal holds unfinished are reported "interrupted"
// when restic had started (it died with the agent: on Linux the kernel
// kills it when the agent dies, see package restic), and a stale-lock mark is
// set: before the next job that uses the repository the agent runs plain
// `restic unlock` (stale locks only, never --remove-all) and puts that step
// into that job's log. Jobs that had not started are queued again, or
// answered "expired". A clean stop (SIGTERM, service stop) stops restic
// gracefully and reports the job "interrupted" at once.
//
// Outbox: every event, log batch and snapshot report is stored (fsync'd)
// before it is published, QoS 1, carrying its own outbox seq; it leaves the
// outbox only when a down/ack names that seq (a PUBACK proves nothing: the
// broker acks before the server stores). After every hello the whole
// outbox is published again in order, at most 32 PUBACKs outstanding; an
// ack with resend set does the same; while connected, entries unacknowledged
// for a minute are published again. Seqs only grow, across restarts and
// after everything was acknowledged, and hello carries the highest
// (outbox_high) and the unfinished job ids (jobs). A full outbox refuses log
// batches (the lines are counted and the log says how many were dropped)
// while state changes wait for room.
//
// Logs: restic's lines (streams out and err) and the agent's own (stream
// agent). Each restic run starts with an agent line naming the restic
// version and the command line (no secrets in it), and a job that has to
// wait (for its config, or behind other jobs) says so when it starts
// waiting. restic's JSON never reaches the log: status and per-item
// messages are progress or counted, an error or fatal message becomes
// its text, and in place of restic's summary an agent line sums up in
// words what it did: the snapshot saved and what it added, the files and
// folders restored (restic counts folders as files; with restic 0.17+
// the agent counts them apart, with 0.16 it says "files and folders"),
// check errors, snapshots removed, the repository created; an init that found a repository already there explains that
// restic never overwrites one, whether the configured password opens it
// (ready) or not (failed), and that starting afresh means clearing the
// remote by hand, then initialising again. Lines are numbered from 1 per job when stored, batched every second or
// at 32 KiB, and flushed before the terminal event, whose log_lines is the
// last number. Progress goes out directly with QoS 0, at most once a
// second, and is dropped while offline; it carries an estimate of the
// time left only once restic has worked 5 s and done 1 % (and not at
// 100 %): restic's first estimates, from a fraction of a second or a
// total still being scanned, promised minutes for 3-second backups.
//
// Missing source paths: restic skips a backup path that does not exist,
// makes a snapshot of the rest and exits 0. The agent reports that backup
// as "warning" (reason: some source paths do not exist), not "succeeded":
// the snapshot lacks data the operator asked for, and a typo in a path must
// not look like a good backup. If no path exists, restic fails and so does
// the job, with the reason "path /x does not exist on this host, so
// nothing was backed up". A missing path is not counted among the items
// restic could not read (ErrorCount), and a failure's detail is left out
// when the reason already quotes it.
//
// Wire behaviour, per connection: CONNECT (client ID = username = host ID,
// clean session off, keepalive 30 s, Will = non-retained QoS 1
// status "offline" with this connection's conn_gen) → SUBSCRIBE
// rm/v1/hosts/{h}/down/# QoS 1 → hello QoS 1 (waits for PUBACK) → the
// outbox's pending entries, in seq order → status "online" QoS 0 at once
// (running jobs, applied config version) and every heartbeat_interval. On
// shutdown a clean DISCONNECT, so the broker drops the Will.
//
// While announcing: CONNECT (client ID = username = topics.PendingID of the
// identity key, password: this run's random one, registered with the server
// by POST /api/v1/agents/bootstrap before connecting and again after the
// broker refuses it; clean session on, no Will) →
// SUBSCRIBE rm/v1/announce/{c}/resp QoS 1 → AnnounceHello QoS 1 on .../req
// → AnnounceProof for the first challenge after each hello → "pending"
// (banner, once) → "approved" (config written, clean DISCONNECT, then the
// host connection above) or "rejected" (Announce fails). Hello is repeated
// every 15 minutes while waiting, after 30 s without an answer (on a new
// connection), and on every reconnect.
//
// What it must not do: import server/, broker/ or web/ (only the wire
// contract in topics/ is shared; tests may start the real broker); log or
// pass on secrets (the MQTT password, the enrollment token, repository
// passwords and backend credentials), which reach restic only through its
// environment, never argv; run two restic operations at once; delete an
// outbox entry the server has not acknowledged.
package agent
