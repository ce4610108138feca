//go:build unix

package agent

import (
	"context"
	"os"
	"syscall"
	"testing"
)

func TestRunServiceStopsOnSignal(t *testing.T) {
	err := RunService("agent.yaml", nil, func(ctx context.Context) error {
		// The handler is installed before body runs, so this cannot kill
		// the test process.
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
