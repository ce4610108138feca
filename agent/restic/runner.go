package restic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// DefaultCancelGrace is how long a canceled restic gets to stop on its own
// (and remove its lock) before it is killed.
const DefaultCancelGrace = 30 * time.Second

// Runner runs the restic binary. The zero value runs "restic" from PATH
// with the agent's environment. A Runner holds no per-run state; one may
// run several operations at once (restic's own locks decide whether they
// may share a repository).
type Runner struct {
	// Binary is the restic program: a path or a name looked up in PATH
	// ("restic" when empty).
	Binary string
	// Env is the base environment for restic (os.Environ() when nil). The
	// runner removes RESTIC_REPOSITORY*, RESTIC_PASSWORD*, RESTIC_FROM_*
	// and RESTIC_KEY_HINT from it and adds the operation's repository,
	// password and backend variables.
	Env []string
	// Logger gets one line when restic starts and one when it ends, never
	// a secret (nil: no logging).
	Logger *slog.Logger
	// CancelGrace is how long restic may take to stop after the context is
	// canceled (DefaultCancelGrace when zero). restic first gets SIGINT (on
	// Windows a CTRL_BREAK console event, see interrupt_windows.go), on
	// which it stops and removes its lock; when the grace runs out, or at
	// once if it could not be asked, it is killed and may leave a stale
	// lock, which the next `restic unlock` removes.
	CancelGrace time.Duration

	// homeDir stands in for the user database's home directory in tests
	// (see withCacheDir; nil: userHome).
	homeDir func() (string, error)
}

// Result is how one operation went.
type Result struct {
	Kind topics.JobKind
	// Args is restic's command line (no secrets in it).
	Args []string
	// ExitCode is restic's exit status, -1 if it was killed by a signal.
	// For an init that found an existing repository it is init's (1), or
	// that of `restic cat config` if the repository would not open.
	ExitCode int
	Outcome  Outcome
	// Reason says in one sentence why the outcome is not plain success
	// (see the Reason constants); empty on success.
	Reason string
	// Detail is restic's own words for a failure (its fatal message).
	Detail   string
	Duration time.Duration
	// UserTime and SystemTime are the CPU time restic itself used (its
	// rusage), apart from Duration, its wall time: on a busy machine the
	// wall time says little about restic's own cost.
	UserTime, SystemTime time.Duration

	// Summary is the backup summary (nil if restic printed none).
	Summary *BackupSummary
	// RestoreSummary and CheckSummary come from restic versions that
	// print them (restore 0.16+, check 0.18+).
	RestoreSummary *RestoreSummary
	CheckSummary   *CheckSummary
	// Restored counts a restore's files and folders apart (restic 0.17+;
	// nil before, when only RestoreSummary, which counts folders as
	// files, says what was restored).
	Restored *RestoreCount
	// Stats is what a stats operation measured (nil if restic printed
	// nothing we could read).
	Stats *topics.RepoStats
	// Snapshots is the decoded list of a snapshots operation.
	Snapshots []Snapshot
	// Forget is what a forget operation kept and removed per group.
	Forget []ForgetGroup
	// Errors are the item errors restic reported (at most 100);
	// ErrorsOmitted counts the rest.
	Errors        []ItemError
	ErrorsOmitted int
	// MissingSources are the backup paths restic skipped because they do
	// not exist (each is in Errors too).
	MissingSources []string

	// AlreadyInitialized is set when init found a repository already
	// there. The runner then opened it with the password (`restic cat
	// config`): Outcome is succeeded only if that worked.
	AlreadyInitialized bool
	// RepositoryID is the repository's ID after init (the short ID from
	// restic before 0.15).
	RepositoryID string
}

// Run validates op, runs restic for it and waits for restic to end. The
// error is non-nil only when restic could not be run at all: an invalid op
// (wrapping ErrInvalidOp) or a missing binary. Everything restic itself
// reports, including a failure, is in the Result. Canceling ctx stops
// restic gracefully (see CancelGrace); Run returns once it has exited, with
// Outcome canceled, unless restic had already finished successfully by the
// time the interrupt arrived (a backup that made its snapshot is not
// reported as canceled).
func (r *Runner) Run(ctx context.Context, op Op) (*Result, error) {
	args, err := Args(op)
	if err != nil {
		return nil, err
	}
	path, err := r.binaryPath()
	if err != nil {
		return nil, err
	}
	res, err := r.run(ctx, op, op.Kind, path, args)
	if err != nil {
		return nil, err
	}
	if res.AlreadyInitialized {
		if err := r.verifyExisting(ctx, op, path, res); err != nil {
			return nil, err
		}
	}
	if res.Summary != nil && res.Summary.SnapshotID != "" && len(res.Summary.SnapshotID) < 64 {
		r.resolveSnapshotID(ctx, op, path, res)
	}
	r.logger().Info("restic finished", "kind", op.Kind, "outcome", res.Outcome, "exit_code", res.ExitCode,
		"reason", res.Reason, "duration", res.Duration.Round(time.Millisecond),
		"cpu_user", res.UserTime.Round(time.Millisecond), "cpu_sys", res.SystemTime.Round(time.Millisecond))
	return res, nil
}

// binaryPath is where the restic program is (Binary, or "restic" looked
// up in PATH).
func (r *Runner) binaryPath() (string, error) {
	bin := r.Binary
	if bin == "" {
		bin = "restic"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("restic: binary %q not found (%v): install restic or set restic_binary in the agent config", bin, err)
	}
	return path, nil
}

// verifyExisting opens a repository that init found already there, so that
// "already initialised" counts as ready only if our password opens it.
func (r *Runner) verifyExisting(ctx context.Context, op Op, path string, res *Result) error {
	v, err := r.run(ctx, op, kindCatConfig, path, []string{"cat", "config", "--json", "--no-lock"})
	if err != nil {
		return err
	}
	res.addRun(v)
	res.RepositoryID = v.RepositoryID
	if v.Outcome != OutcomeSucceeded {
		res.Outcome, res.Reason, res.ExitCode = v.Outcome, v.Reason, v.ExitCode
		res.Detail = "the repository exists but could not be opened: " + v.Detail
	}
	return nil
}

// resolveSnapshotID replaces the short snapshot ID that restic before 0.15
// reports after a backup with the full one, so that a job's snapshot ID
// always matches the snapshot list. On failure the short ID stays.
func (r *Runner) resolveSnapshotID(ctx context.Context, op Op, path string, res *Result) {
	short := res.Summary.SnapshotID
	lookup := Op{Kind: topics.JobSnapshots, Repository: op.Repository}
	s, err := r.run(ctx, lookup, topics.JobSnapshots, path, []string{"snapshots", "--json", "--", short})
	if err != nil || s.Outcome != OutcomeSucceeded || len(s.Snapshots) != 1 || !strings.HasPrefix(s.Snapshots[0].ID, short) {
		r.logger().Warn("could not resolve the short snapshot ID of an old restic; keeping it", "snapshot", short, "err", err)
		return
	}
	res.Summary.SnapshotID = s.Snapshots[0].ID
	res.addRun(s)
}

// addRun counts the time of another restic run made for this result.
func (res *Result) addRun(other *Result) {
	res.Duration += other.Duration
	res.UserTime += other.UserTime
	res.SystemTime += other.SystemTime
}

// run starts one restic process and turns its end into a Result.
func (r *Runner) run(ctx context.Context, op Op, kind topics.JobKind, path string, args []string) (*Result, error) {
	return r.runReading(ctx, op, kind, path, args, nil)
}

// runReading is run with a reader of restic's stdout: each line goes to
// stdoutLine first, and to the session only if stdoutLine did not take it
// (Ls decodes a listing there, line by line).
func (r *Runner) runReading(ctx context.Context, op Op, kind topics.JobKind, path string, args []string,
	stdoutLine func(line []byte) (taken bool)) (*Result, error) {
	start := time.Now()
	sess := newSession(kind, op, start)
	stdout := newLineWriter(StreamStdout, maxDecodeLine, sess.handle)
	if stdoutLine != nil {
		stdout = newLineWriter(StreamStdout, maxDecodeLine, func(stream Stream, line []byte) {
			if !stdoutLine(line) {
				sess.handle(stream, line)
			}
		})
	}
	stderr := newLineWriter(StreamStderr, maxDecodeLine, sess.handle)

	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = withCacheDir(childEnv(baseEnv(r.Env), op.Repository), r.home)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Cancel = func() error { return r.interrupt(cmd.Process, kind) }
	cmd.WaitDelay = r.grace()
	ownProcessGroup(cmd)

	// Held until restic has been waited for (see guardChild).
	release := guardChild(cmd)
	defer release()
	if err := sess.startProcess(cmd, op.OnStart, args); err != nil {
		if ctx.Err() != nil {
			res := &Result{Kind: op.Kind, Args: args, ExitCode: -1, Outcome: OutcomeCanceled, Reason: ReasonCanceled}
			return res, nil
		}
		return nil, fmt.Errorf("restic: start %s %s: %w", path, kind, err)
	}
	r.logger().Info("restic started", "kind", kind, "pid", cmd.Process.Pid, "args", args, "repository", op.Repository)
	waitErr := cmd.Wait()
	stdout.flush()
	stderr.flush()
	if errors.Is(waitErr, exec.ErrWaitDelay) {
		r.logger().Warn("restic exited but something it started kept its output open; stopped reading", "kind", kind)
	}

	res := sess.result()
	res.Kind, res.Args, res.Duration = op.Kind, args, time.Since(start)
	res.ExitCode = cmd.ProcessState.ExitCode()
	res.UserTime, res.SystemTime = cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime()
	exitMessage, tail, missing := sess.ending()
	v := classify(ending{
		kind: kind, code: res.ExitCode, state: cmd.ProcessState.String(), canceled: ctx.Err() != nil,
		exitMessage: exitMessage, stderr: tail, missingSources: missing,
	})
	red := newRedactor(op.Repository)
	res.Outcome, res.Reason, res.Detail = v.outcome, red.redact(v.reason), red.redact(v.detail)
	res.AlreadyInitialized = v.alreadyInit
	res.MissingSources = missing
	return &res, nil
}

// interrupt asks restic to stop (askToStop: SIGINT, or CTRL_BREAK on
// Windows), which restic handles by canceling its work and removing its
// lock; the grace (cmd.WaitDelay) then bounds the wait. If restic cannot
// be asked, it is killed at once.
func (r *Runner) interrupt(p *os.Process, kind topics.JobKind) error {
	err := askToStop(p)
	if err == nil || errors.Is(err, os.ErrProcessDone) {
		return err
	}
	r.logger().Warn("could not ask restic to stop; killing it (a stale lock it leaves is removed before the next job)",
		"kind", kind, "err", err)
	return p.Kill()
}

func (r *Runner) home() (string, error) {
	if r.homeDir != nil {
		return r.homeDir()
	}
	return userHome()
}

func (r *Runner) grace() time.Duration {
	if r.CancelGrace > 0 {
		return r.CancelGrace
	}
	return DefaultCancelGrace
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}
