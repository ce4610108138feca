//go:build unix

package restic

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// TestBrowseKillsHangingRestic: a restic that ignores SIGINT and never
// answers is killed once the query's deadline and the grace have passed;
// the error says it ran out of time and that it was killed (a stale lock
// may be left).
func TestBrowseKillsHangingRestic(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	bin := fakeBinary(t, "trap '' INT\necho $$ >"+pidFile+"\nexec sleep 60\n")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := (&Runner{Binary: bin}).Browse(ctx, repoAt("/srv/repo"), []string{"ls", "--json", "latest", "/"}, 100*time.Millisecond,
		func(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err })
	var be *BrowseError
	if !errors.As(err, &be) || be.Kind != topics.ReplyErrTimeout || !be.Killed {
		t.Fatalf("err = %#v, want a timeout that killed restic", err)
	}
	b, readErr := os.ReadFile(pidFile)
	if readErr != nil {
		t.Fatal(readErr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("restic (pid %d) still exists after Browse returned: %v", pid, err)
	}
}
