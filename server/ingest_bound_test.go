package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// TestDecodeBoundHoldsAndStoresAll: many large log batches handed in at
// once, each on its own goroutine as the broker's connections do, are
// never decoded more than the bound at a time, and every line is stored;
// small messages (a heartbeat) take no slot, so they pass while the slots
// are all taken.
func TestDecodeBoundHoldsAndStoresAll(t *testing.T) {
	const bound, batches, perBatch = 2, 40, 100
	f := newJobsFixture(t)
	server.SetDecodeBound(f.s, bound)
	f.ready(t)
	b := f.backup(t)
	a := f.agent
	text := strings.Repeat("x", 60)
	payloads := make([][]byte, batches)
	for i := range payloads {
		m := &topics.JobLog{Envelope: topics.NewEnvelope(topics.TypeJobLog, a.Host), Seq: a.NextSeq(), Job: b.UID, First: uint64(i*perBatch + 1)}
		for n := range perBatch {
			m.Lines = append(m.Lines, topics.LogLine{T: time.Now().UTC(), Stream: topics.StreamStdout, Text: fmt.Sprintf("%s %d", text, i*perBatch+n+1)})
		}
		p, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) < 4<<10 {
			t.Fatalf("a batch of %d bytes takes no slot", len(p))
		}
		payloads[i] = p
	}
	topic := topics.JobLogTopic(a.Host, b.UID)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range payloads {
		wg.Go(func() {
			<-start
			f.s.HandleMessage(topic, p, a.Host, a.Conn)
		})
	}
	close(start)
	wg.Wait()
	a.Sync(t)
	peak, busy := server.DecodeBoundPeak(f.s)
	if peak < 1 || peak > bound || busy != 0 {
		t.Fatalf("decodes at once: peak %d (bound %d), %d still holding a slot", peak, bound, busy)
	}
	got, err := f.s.JobLog(t.Context(), b.ID, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != batches*perBatch {
		t.Fatalf("stored %d lines, want %d", len(got), batches*perBatch)
	}

	// With every slot taken, a small message (a short log batch, like a
	// heartbeat or a hello) takes none and is handled at once.
	small := &topics.JobLog{Envelope: topics.NewEnvelope(topics.TypeJobLog, a.Host), Seq: a.NextSeq(), Job: b.UID, First: batches*perBatch + 1,
		Lines: []topics.LogLine{{T: time.Now().UTC(), Stream: topics.StreamStdout, Text: "tail"}}}
	p, err := json.Marshal(small)
	if err != nil {
		t.Fatal(err)
	}
	for range bound {
		if !server.TakeDecodeSlot(f.s) {
			t.Fatal("no slot taken")
		}
	}
	done := make(chan struct{})
	go func() {
		f.s.HandleMessage(topic, p, a.Host, a.Conn)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a small message waited for a decode slot")
	}
	for range bound {
		server.LeaveDecodeSlot(f.s)
	}
	a.Sync(t)
	if got, err = f.s.JobLog(t.Context(), b.ID, 0, 10000); err != nil || len(got) != batches*perBatch+1 {
		t.Fatalf("stored %d lines (%v), want %d", len(got), err, batches*perBatch+1)
	}
	for i, l := range got {
		if want := fmt.Sprintf("%s %d", text, i+1); i < batches*perBatch && l.Text != want {
			t.Fatalf("line %d = %q, want %q", i+1, l.Text, want)
		}
	}
}
