package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// fleet is the parent's side of its child processes: it starts them (this
// binary again, "child"), gives each its share, sends commands to all and
// collects what they answer.
type fleet struct {
	ctx   context.Context // the run's: waits end with it
	procs []*childProc
	mark  int

	mu     sync.Mutex
	events []childEvent
	notify chan struct{}
}

type childProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	enc   *json.Encoder
	n     int
	done  chan struct{}
}

// startFleet starts one child per spec and waits until each has made its
// agents.
func startFleet(ctx context.Context, self string, specs []childSpec) (*fleet, error) {
	f := &fleet{ctx: ctx, notify: make(chan struct{}, 1)}
	for _, spec := range specs {
		cmd := exec.Command(self, "child")
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			f.stop()
			return nil, fmt.Errorf("start child %d: %w", spec.Index, err)
		}
		p := &childProc{cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin), n: len(spec.Agents), done: make(chan struct{})}
		f.procs = append(f.procs, p)
		go f.read(spec.Index, p, stdout)
		if err := p.enc.Encode(spec); err != nil {
			f.stop()
			return nil, fmt.Errorf("child %d: %w", spec.Index, err)
		}
	}
	if _, err := f.waitAll("ready", 0, 5*time.Minute); err != nil {
		f.stop()
		return nil, err
	}
	return f, nil
}

// read collects one child's events; its end is an "exit" event.
func (f *fleet) read(index int, p *childProc, stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		var ev childEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: child %d said %q\n", index, sc.Text())
			continue
		}
		f.push(ev)
	}
	p.cmd.Wait()
	close(p.done)
	f.push(childEvent{Ev: "exit", Child: index})
}

func (f *fleet) push(ev childEvent) {
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.mu.Unlock()
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

// send gives every child the same command.
func (f *fleet) send(cmd childCmd) {
	for _, p := range f.procs {
		p.mu.Lock()
		_ = p.enc.Encode(cmd)
		p.mu.Unlock()
	}
}

// nextMark is a new mark for counting established agents.
func (f *fleet) nextMark() int {
	f.mark++
	return f.mark
}

// waitAll waits for one event ev (for mark, where it has one) from every
// child and takes them. A child that exits meanwhile is an error, and so
// is the end of the run's context.
func (f *fleet) waitAll(ev string, mark int, timeout time.Duration) ([]childEvent, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	got := map[int]childEvent{}
	for {
		f.mu.Lock()
		kept := f.events[:0]
		var exited []int
		for _, e := range f.events {
			switch {
			case e.Ev == ev && e.Mark == mark:
				got[e.Child] = e
			case e.Ev == "exit":
				exited = append(exited, e.Child)
				kept = append(kept, e)
			default:
				kept = append(kept, e)
			}
		}
		f.events = kept
		f.mu.Unlock()
		if len(got) == len(f.procs) {
			out := make([]childEvent, 0, len(got))
			for _, e := range got {
				out = append(out, e)
			}
			return out, nil
		}
		if len(exited) > 0 {
			return nil, fmt.Errorf("child %d exited early (see its messages above)", exited[0])
		}
		select {
		case <-f.notify:
		case <-f.ctx.Done():
			return nil, f.ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("waited %s for %q from %d children, got %d", timeout, ev, len(f.procs), len(got))
		}
	}
}

// ask sends a command answered by one event per child and returns them.
func (f *fleet) ask(op, answer string) ([]childEvent, error) {
	f.send(childCmd{Op: op})
	return f.waitAll(answer, 0, time.Minute)
}

// jobs collects the job records every child gathered since last time.
func (f *fleet) jobs() ([]jobRecord, error) {
	evs, err := f.ask("jobs", "jobs")
	if err != nil {
		return nil, err
	}
	var out []jobRecord
	for _, e := range evs {
		out = append(out, e.Jobs...)
	}
	return out, nil
}

// fleetStats sums what the children say about themselves.
type fleetStats struct {
	connected, pending, fds int
	cpuSeconds              float64
	connectErrors           int
	firstError              string
	refused                 int
	handshakes, resumed     int64
}

// stats sums the children's connected agents, unacknowledged outbox
// entries, open file descriptors and CPU time.
func (f *fleet) stats() (fleetStats, error) {
	var s fleetStats
	evs, err := f.ask("stats", "stats")
	for _, e := range evs {
		s.connected += e.Connected
		s.pending += e.Pending
		s.fds += e.FDs
		s.cpuSeconds += e.CPUSeconds
		s.connectErrors += e.ConnectErrors
		s.refused += e.Refused
		s.handshakes += e.Handshakes
		s.resumed += e.Resumed
		if s.firstError == "" {
			s.firstError = e.FirstError
		}
	}
	return s, err
}

// stop tells the children to disconnect cleanly and waits for them, killing
// any that takes longer than a minute. It says which did not end well.
func (f *fleet) stop() error {
	f.send(childCmd{Op: "stop"})
	for _, p := range f.procs {
		p.stdin.Close()
	}
	var errs []error
	for i, p := range f.procs {
		select {
		case <-p.done:
		case <-time.After(time.Minute):
			_ = p.cmd.Process.Kill()
			<-p.done
			errs = append(errs, fmt.Errorf("child %d did not stop within a minute", i))
			continue
		}
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			errs = append(errs, fmt.Errorf("child %d exited with status %d (see its messages above)", i, code))
		}
	}
	return errors.Join(errs...)
}
