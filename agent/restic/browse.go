package restic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// Browsing (#14): `restic ls`, `find` and `diff` for the server's queries.
// They read the repository only and take restic's non-exclusive lock, so
// they run beside a backup (never behind the job queue). Their output is
// never read whole into memory: it is decoded as it streams (browse_decode.go)
// and the decoder stops at its cap, after which restic is stopped and the
// rest of its output discarded.

// DefaultBrowseGrace is how long a browsing restic gets to stop after its
// deadline or an early stop (SIGINT: it removes its lock) before it is
// killed.
const DefaultBrowseGrace = 2 * time.Second

// BrowseError is a browsing command's failure, in one sentence, with the
// kind of failure as a topics.ReplyErr* value.
type BrowseError struct {
	Kind    string
	Message string
	// Killed is set when restic had to be killed after the grace: it may
	// have left a stale lock.
	Killed bool
}

func (e *BrowseError) Error() string { return e.Message }

// Browse runs `restic <args...>` against repo with ctx's deadline and hands
// its standard output to decode as it streams. decode returns when it has
// what it needs (or at the end of the output); restic is then asked to
// stop if it is still running, and whatever it prints after is discarded.
// grace bounds how long restic may take to stop (DefaultBrowseGrace when
// zero) before it is killed. The error is a *BrowseError when restic ran
// and failed or ran out of time, or ErrInvalidOp-wrapped when it could not
// be started. A decode error is returned as a failed BrowseError.
func (r *Runner) Browse(ctx context.Context, repo Repository, args []string, grace time.Duration,
	decode func(io.Reader) error) error {
	if err := (&topics.RepositoryConfig{URL: repo.URL, Password: repo.Password, Env: repo.Env}).Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidOp, err)
	}
	bin := r.Binary
	if bin == "" {
		bin = "restic"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return &BrowseError{Kind: topics.ReplyErrFailed, Message: "restic is not installed on this host (or not where the agent's config says)"}
	}
	if grace <= 0 {
		grace = DefaultBrowseGrace
	}
	// stop ends restic early once decode has enough; the deadline is ctx's.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	cmd := exec.CommandContext(runCtx, path, args...)
	cmd.Env = childEnv(baseEnv(r.Env), repo)
	stderr := &tailBuffer{max: 8 << 10}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("restic: %w", err)
	}
	var (
		mu       sync.Mutex
		cancelAt time.Time
	)
	cmd.Cancel = func() error {
		mu.Lock()
		cancelAt = time.Now()
		mu.Unlock()
		err := askToStop(cmd.Process)
		if err != nil && !errors.Is(err, os.ErrProcessDone) {
			return cmd.Process.Kill()
		}
		return err
	}
	cmd.WaitDelay = grace
	ownProcessGroup(cmd)
	release := guardChild(cmd)
	defer release()
	if err := cmd.Start(); err != nil {
		return &BrowseError{Kind: topics.ReplyErrFailed, Message: "restic could not be started on this host: " + err.Error()}
	}
	start := time.Now()
	decodeErr := decode(stdout)
	early := errors.Is(decodeErr, ErrEnough)
	if early {
		decodeErr = nil
		stop() // decode has what it needs: restic may stop
	}
	_, _ = io.Copy(io.Discard, stdout) // never leave restic blocked on a full pipe
	_ = cmd.Wait()
	mu.Lock()
	// Killed: it was asked to stop and did not exit by itself within the
	// grace (a signal ended it after that long).
	killed := !cancelAt.IsZero() && !cmd.ProcessState.Exited() && time.Since(cancelAt) >= grace
	mu.Unlock()
	code := cmd.ProcessState.ExitCode()
	r.logger().Info("restic browse finished", "command", args[0], "exit_code", code,
		"duration", time.Since(start).Round(time.Millisecond), "deadline_passed", ctx.Err() != nil, "killed", killed)
	switch {
	case ctx.Err() != nil && !early:
		return &BrowseError{Kind: topics.ReplyErrTimeout, Killed: killed,
			Message: "restic did not finish in time on this host; the repository may be slow or very large"}
	case decodeErr != nil:
		return &BrowseError{Kind: topics.ReplyErrFailed, Killed: killed,
			Message: "restic's output could not be read: " + newRedactor(repo).redact(decodeErr.Error())}
	case early:
		return nil // stopped by us, with what decode wanted
	case code != 0:
		return browseFailure(args[0], code, newRedactor(repo).redact(stderr.String()))
	}
	return nil
}

// ErrEnough is what a decoder given to Browse returns when it stops
// before the end of restic's output because it has all it may keep.
var ErrEnough = errors.New("restic: output cap reached")

// browseFailure turns restic's exit code and last words into one sentence.
func browseFailure(command string, code int, stderr string) *BrowseError {
	last := lastLine(stderr)
	low := strings.ToLower(stderr)
	switch {
	case strings.Contains(low, "unknown flag") || strings.Contains(low, "unknown shorthand flag") ||
		strings.Contains(low, "unknown command"):
		return &BrowseError{Kind: topics.ReplyErrUnsupported,
			Message: fmt.Sprintf("the restic on this host is too old for %s --json (%s); upgrade restic to 0.15 or newer", command, last)}
	case strings.Contains(low, "no matching id found") || strings.Contains(low, "no snapshot found") ||
		strings.Contains(low, "invalid snapshot id") || strings.Contains(low, "snapshot not found"):
		return &BrowseError{Kind: topics.ReplyErrNotFound, Message: "the snapshot does not exist in this host's repository (it may have been forgotten)"}
	case code == 11 || strings.Contains(low, "unable to create lock") || strings.Contains(low, "repository is already locked"):
		return &BrowseError{Kind: topics.ReplyErrBusy,
			Message: "the repository is locked by another operation (a prune or a check); try again when it has finished"}
	case code == 10 || strings.Contains(low, "repository does not exist"):
		return &BrowseError{Kind: topics.ReplyErrFailed, Message: "the host's repository does not exist or cannot be reached"}
	case code == 12 || strings.Contains(low, "wrong password"):
		return &BrowseError{Kind: topics.ReplyErrFailed, Message: "the repository's password does not open it"}
	}
	if last == "" {
		last = fmt.Sprintf("exit code %d", code)
	}
	return &BrowseError{Kind: topics.ReplyErrFailed, Message: fmt.Sprintf("restic %s failed: %s", command, last)}
}

// lastLine is the last non-empty line of s, clipped; the message of
// restic's JSON exit_error if it is one.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	var exit struct {
		Message string `json:"message"`
	}
	if json.Unmarshal([]byte(l), &exit) == nil && exit.Message != "" {
		l = strings.TrimPrefix(exit.Message, "Fatal: ")
	}
	if len(l) > 300 {
		l = l[:300] + "..."
	}
	return l
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = bytes.Clone(t.buf[over:])
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return sanitize(t.buf)
}
