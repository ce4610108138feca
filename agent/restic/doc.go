// Package restic runs the real restic binary for the agent: one operation
// (init, backup, forget, prune, check, unlock, snapshots, restore) per
// Runner.Run, with its output turned into log lines, throttled progress and
// a Result whose Outcome maps onto a job's terminal state (DESIGN §3).
//
// How it works:
//
//   - Op says what to run. Op.Validate checks every field first: topics'
//     rules for the job spec and repository the Op stands for (the one
//     validator of the wire; values restic accepts), plus what only this
//     host can check (paths absolute on its OS, an existing restore target
//     and exclude files); a bad Op is refused with ErrInvalidOp and restic
//     is not started. An Op speaks the wire's terms: its Kind is a
//     topics.JobKind, its retention a topics.Retention, its bandwidth a
//     topics.Bandwidth, and a log line is clipped at topics.MaxLogLine;
//     a backup summary's counters are a topics.BackupSummary. None of
//     them is declared again here.
//   - Args builds the command line: `restic <kind> --json ...`, options as
//     --name=value, positional arguments after "--".
//   - The repository URL, password and backend credentials reach restic
//     only through its environment (RESTIC_REPOSITORY, RESTIC_PASSWORD,
//     AWS_*, B2_*, ...); RESTIC_PASSWORD_FILE and friends are stripped from
//     the inherited environment so they cannot override them.
//   - Nothing else is added to restic's environment, except a cache
//     directory when the environment gives restic none (a service
//     without $HOME): RESTIC_CACHE_DIR is then the one restic would use
//     for the agent's user (cachedir.go). No nice level, GOMAXPROCS, GOGC
//     or RESTIC_PROGRESS_FPS: restic runs as it would from a shell.
//   - Result.Duration is restic's wall time; Result.UserTime and
//     SystemTime its own CPU time (rusage), also in the "restic finished"
//     log line.
//   - Output is read line by line from both streams. JSON messages are
//     decoded where restic prints them; anything else, including JSON we do
//     not understand, stays a plain log line. Nothing restic prints can
//     make the runner fail. Decoded JSON is never passed to OnLine as
//     such: status and verbose_status are progress or counted, summaries
//     and "initialized" are the agent's to say in words, error and
//     exit_error messages are passed as their text.
//   - The exit code decides the Outcome: 0 succeeded, 3 warning (backup made
//     an incomplete snapshot), 10/11/12 failed with a known reason, anything
//     else failed. restic before 0.17 exits 1 for every fatal error; the
//     reason is then read from its message ("wrong password or no key
//     found", "Is there a repository at the following location?", "unable
//     to create lock"). A backup that skipped a source path that does not
//     exist is a warning too, though restic exits 0 for it; one none of
//     whose paths exist fails with a reason naming them
//     (Result.MissingSources lists them).
//   - Canceling the context sends restic SIGINT (it stops and removes its
//     lock), waits Runner.CancelGrace, then kills it. Windows has no signals
//     for child processes: restic runs in a process group of its own and
//     gets CTRL_BREAK_EVENT through its console, which it handles like
//     SIGINT (interrupt_windows.go); if that cannot be sent, it is killed
//     at once.
//   - On Linux the kernel kills restic (SIGKILL) when the agent dies, so
//     a killed agent leaves no restic running unsupervised (child_linux.go;
//     elsewhere restic runs on to its end). The lock such a restic leaves
//     is stale: the agent runs plain `restic unlock` before its next job.
//   - `init` on an existing repository is "already initialised" and counts
//     as success only after `restic cat config` opens it with our password.
//
// restic versions and their JSON (all read by the same decoders; fuzzed with
// output captured from 0.14.0 and 0.18.1 under testdata/):
//
//   - backup: status/summary/error on all; summary snapshot_id is the short
//     ID before 0.15 (the runner looks up the full one); error carries a Go error value ({"Op","Path","Err"}
//     or {}) before 0.17 and {"message"} since; exit_error since 0.17.
//   - restore: status/summary since 0.16, error messages since 0.17 (plain
//     stderr text before, kept in the log only); text only before 0.16.
//     The summary counts folders as files, and restoring a subset counts
//     the parent folders it restores in files_restored but not in
//     total_files (one file: "total_files":1,"files_restored":4). So
//     restore runs with --verbose=2, for which 0.17+ prints one
//     verbose_status per item (restored, updated, unchanged); the session
//     counts files and folders apart (Result.Restored), telling a folder
//     by the restored item on disk.
//   - snapshots, forget: one JSON array on one line on all versions; the
//     snapshot "summary" field since 0.17; forget --prune appends prune's
//     text output.
//   - check: JSON summary and errors since 0.18; text before.
//   - init: {"message_type":"initialized"} since 0.15; text before.
//   - prune, unlock: text only.
//
// What it must not do: put a secret in argv, in a log line or in an error
// (lines passed to Op.OnLine are scrubbed of the repository's secrets as a
// second line of defence); run `restic unlock --remove-all`, which would
// remove the live lock of a backup another machine is running (only stale
// locks are removed, by plain `restic unlock`); import package agent (the
// agent imports this package; the restic version, if ever needed, comes in
// as data).
package restic
