package outbox

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A crash between write and fsync cannot be staged from inside a process.
// What can be tested is the contract: a real process appends (and begins
// and finishes commands) as fast as it can and prints each seq or ID only
// after the call returned; it is killed with SIGKILL mid-stream; everything
// it printed must be on disk. (A killed process still has its writes in the
// page cache; power loss is what the truncation tests in crash_test.go
// stage.)

const childEnv = "OUTBOX_TEST_CHILD"

// TestMain runs the child instead of the tests when the kill tests start
// this binary with childEnv set.
func TestMain(m *testing.M) {
	if mode, dir, ok := strings.Cut(os.Getenv(childEnv), ":"); ok {
		runChild(mode, dir)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// runChild appends or journals until it is killed.
func runChild(mode, dir string) {
	switch mode {
	case "outbox":
		o, err := Open(dir, Options{Logger: quiet, SegmentBytes: 8 << 10, MaxBytes: 1 << 30})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		for {
			seq, err := o.Append(KindLog, testTopic, payloadFor(o.HighWater()+1))
			if err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
			if seq%3 == 0 {
				o.Ack(seq - 1) // acks interleave with appends, out of order
				fmt.Println("ack", seq-1)
			}
			fmt.Println("seq", seq)
		}
	case "journal":
		j, err := OpenJournal(filepath.Join(dir, "journal"), JournalOptions{Logger: quiet})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		for i := 0; ; i++ {
			id := "cmd-" + strconv.Itoa(i)
			if _, err := j.Begin(id, nil); err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
			fmt.Println("begin", id)
			if i%2 == 0 {
				j.Finish(id, []byte("done"))
				fmt.Println("finish", id)
			} else if err := j.Update(id, []byte("state-"+id)); err == nil {
				fmt.Println("update", id)
			}
		}
	}
}

// runAndKill starts the child in mode, reads its output until it has
// printed want lines, kills it, and returns every line it printed.
func runAndKill(t *testing.T, mode, dir string, want int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+mode+":"+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() { // until EOF: lines printed just before the kill count too
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "error") {
			t.Fatalf("child: %s", sc.Text())
		}
		if len(lines) >= want && !killed {
			cmd.Process.Kill()
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("child exited after %d lines without being killed", len(lines))
	}
	return lines
}

func TestKilledProcessKeepsEveryReturnedAppend(t *testing.T) {
	dir := t.TempDir()
	for round := range 3 { // each round starts from what the kill left
		lines := runAndKill(t, "outbox", dir, 400)
		appended, acked := map[uint64]bool{}, map[uint64]bool{}
		for _, l := range lines {
			kind, n, _ := strings.Cut(l, " ")
			seq, _ := strconv.ParseUint(n, 10, 64)
			map[string]map[uint64]bool{"seq": appended, "ack": acked}[kind][seq] = true
		}
		o := openT(t, dir, Options{SegmentBytes: 8 << 10, MaxBytes: 1 << 30})
		pending := map[uint64]bool{}
		for _, seq := range pendingSeqs(t, o) { // checks payloads too
			pending[seq] = true
		}
		var last uint64 // the highest seq the child printed
		for seq := range appended {
			last = max(last, seq)
		}
		for seq := range appended {
			// The child acks seq-1 right after Append returned a multiple of
			// 3, then prints "ack", then "seq": a kill between the Ack and
			// its line leaves the last printed seq acked on disk without an
			// "ack" line — but only if that next Append did return.
			inFlight := seq == last && (seq+1)%3 == 0 && o.HighWater() >= seq+1
			if !pending[seq] && !acked[seq] && !inFlight {
				t.Fatalf("round %d: seq %d was returned by Append, is not pending and was never acked", round, seq)
			}
		}
		for seq := range acked {
			if pending[seq] {
				t.Fatalf("round %d: seq %d was acked and came back", round, seq)
			}
		}
		o.Close()
	}
}

func TestKilledProcessJournal(t *testing.T) {
	dir := t.TempDir()
	lines := runAndKill(t, "journal", dir, 300)
	begun, finished, updated := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, l := range lines {
		kind, id, _ := strings.Cut(l, " ")
		map[string]map[string]bool{"begin": begun, "finish": finished, "update": updated}[kind][id] = true
	}
	j := openJournalT(t, filepath.Join(dir, "journal"), JournalOptions{})
	for id := range begun {
		r, ok := j.Lookup(id)
		if !ok {
			t.Fatalf("%s: Begin returned, the journal does not know it", id)
		}
		if finished[id] && !r.Done {
			t.Fatalf("%s: Finish returned, the journal says running", id)
		}
		if updated[id] && string(r.State) != "state-"+id {
			t.Fatalf("%s: Update returned, the journal holds state %q", id, r.State)
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(id, "cmd-"))
		if n%2 == 1 && r.Done {
			t.Fatalf("%s: never finished, the journal says done", id)
		}
	}
	unfinished := 0
	for id := range begun {
		if !finished[id] {
			unfinished++
		}
	}
	if r := j.Running(); len(r) < unfinished-1 || len(r) > unfinished+1 {
		t.Fatalf("Running has %d commands; the child left %d unfinished", len(r), unfinished)
	}
}
