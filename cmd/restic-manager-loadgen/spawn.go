package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// spawnedServer is the real server binary, started by --spawn in a data
// directory of its own with limits high enough for a loopback fleet, and
// stopped (or restarted, for the storm) by the loadgen.
type spawnedServer struct {
	bin      string
	dataDir  string
	extra    []string // --server-args
	password string   // the admin's, for the dashboard
	// removeOnStop: the data directory is a temporary one (no --data).
	removeOnStop bool

	cmd     *exec.Cmd
	done    chan struct{}
	logFile *os.File
	webURL  string
	// The addresses it listens on, kept for a restart on the same ones.
	httpAddr, mqttAddr, mqttsAddr string
}

// servingRE reads the addresses from the server's "restic-manager is
// serving" log line.
var servingRE = regexp.MustCompile(`web=(\S+) mqtt=(\S+) mqtts=(\S+)`)

// findServerBin is --server-bin, else restic-manager next to this binary,
// else bin/restic-manager here, else on PATH.
func findServerBin(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), "restic-manager"); isFile(p) {
			return p, nil
		}
	}
	if isFile("bin/restic-manager") {
		return filepath.Abs("bin/restic-manager")
	}
	if p, err := exec.LookPath("restic-manager"); err == nil {
		return p, nil
	}
	return "", errors.New("--spawn needs the server binary: build it (make build) or name it with --server-bin")
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// start runs `restic-manager serve` and waits until it says it serves.
func (s *spawnedServer) start(ctx context.Context) error {
	if s.httpAddr == "" {
		s.httpAddr, s.mqttAddr, s.mqttsAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	}
	args := append([]string{"serve", "--data", s.dataDir, "--http", s.httpAddr, "--https", "",
		"--mqtt", s.mqttAddr, "--mqtts", s.mqttsAddr, "--agents-dir", filepath.Join(s.dataDir, "no-agents"),
		"--mqtt-conn-limit", "1000000", "--http-conns-per-addr", "0", "--http-max-conns", "0"}, s.extra...)
	cmd := exec.Command(s.bin, args...)
	cmd.Env = append(os.Environ(), "RM_ADMIN_PASSWORD="+s.password)
	logFile, err := os.OpenFile(filepath.Join(s.dataDir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return err
	}
	cmd.Stdout = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	s.cmd, s.logFile, s.done = cmd, logFile, make(chan struct{})
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			if strings.Contains(line, "restic-manager is serving") {
				if m := servingRE.FindStringSubmatch(line); m != nil {
					select {
					case found <- m[1:]:
					default:
					}
				}
			}
		}
	}()
	go func() { cmd.Wait(); close(s.done) }()
	select {
	case m := <-found:
		s.webURL, s.httpAddr, s.mqttAddr, s.mqttsAddr = m[0], strings.TrimPrefix(m[0], "http://"), m[1], m[2]
		return nil
	case <-s.done:
		return fmt.Errorf("the server exited at start; see %s", logFile.Name())
	case <-time.After(2 * time.Minute):
		s.kill()
		return fmt.Errorf("the server did not say it serves within 2 minutes; see %s", logFile.Name())
	case <-ctx.Done():
		s.kill()
		return ctx.Err()
	}
}

// stop asks the server to shut down (SIGTERM) and waits, killing it after
// a minute.
func (s *spawnedServer) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(time.Minute):
		s.kill()
	}
	s.logFile.Close()
	s.cmd = nil
}

// shutdown stops the server for good, removing a temporary data directory.
func (s *spawnedServer) shutdown() {
	s.stop()
	if s.removeOnStop {
		os.RemoveAll(s.dataDir)
	}
}

func (s *spawnedServer) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

func (s *spawnedServer) pid() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// resetAdminPassword gives the admin of an existing data directory the
// password of this run (RM_ADMIN_PASSWORD only names the first admin's),
// with the server's own CLI, before the server starts.
func (s *spawnedServer) resetAdminPassword(ctx context.Context) error {
	if !isFile(filepath.Join(s.dataDir, "restic-manager.db")) {
		return nil
	}
	cmd := exec.CommandContext(ctx, s.bin, "user", "passwd", "admin", "--data", s.dataDir)
	cmd.Stdin = strings.NewReader(s.password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("user passwd admin: %v: %s", err, out)
	}
	return nil
}

// apiToken makes an admin API token with the server's own CLI, on its data
// directory, while it runs.
func (s *spawnedServer) apiToken(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, s.bin, "apitoken", "create", "--user", "admin", "--data", s.dataDir).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("apitoken create: %v: %s", err, ee.Stderr)
		}
		return "", fmt.Errorf("apitoken create: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
