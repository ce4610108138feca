package outbox

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The decoders of bytes from disk: whatever a segment, ack or journal file
// holds, Open must not panic and must return only records that were
// encoded whole (so their CRC holds). `make fuzz` runs these.

func seedSegment() []byte {
	b := []byte(magicSegment)
	for seq := uint64(1); seq <= 3; seq++ {
		b = append(b, encodeFrame(recAppend, encodeAppendHeader(seq, KindEvent, testTopic), payloadFor(seq))...)
	}
	return b
}

func FuzzOpenSegment(f *testing.F) {
	good := seedSegment()
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte(magicSegment))
	f.Add([]byte{})
	f.Add([]byte("RMOB"))
	f.Add(append([]byte(magicSegment), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1))
	f.Add(append(bytes.Clone(good), encodeFrame(recAck, encodeAcks([]uint64{1}))...))
	for _, d := range damagedSeeds(good) {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, segmentName(1)), data, 0o600)
		o, err := Open(dir, Options{Logger: quiet})
		if err != nil {
			return
		}
		defer o.Close()
		es, err := o.Pending(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			frame := encodeFrame(recAppend, encodeAppendHeader(e.Seq, e.Kind, e.Topic), e.Payload)
			if !bytes.Contains(data, frame) {
				t.Fatalf("entry %d is not a whole record of the input", e.Seq)
			}
		}
		seq, err := o.Append(KindEvent, testTopic, nil)
		if err != nil {
			t.Fatalf("Append after opening fuzzed input: %v", err)
		}
		if len(es) > 0 && seq <= es[len(es)-1].Seq {
			t.Fatalf("new seq %d not above the old entries", seq)
		}
	})
}

func FuzzOpenAcks(f *testing.F) {
	f.Add(append([]byte(magicAcks), encodeFrame(recAck, encodeAcks([]uint64{1, 2, 3}))...))
	f.Add([]byte(magicAcks))
	f.Add(append([]byte(magicAcks), encodeFrame(recAck, []byte{3, 1, 0, 1})...))
	acks := []byte(magicAcks)
	for i := range uint64(6) {
		acks = append(acks, encodeFrame(recAck, encodeAcks([]uint64{i + 1}))...)
	}
	for _, d := range damagedSeeds(acks) {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, segmentName(1)), seedSegment(), 0o600)
		os.WriteFile(filepath.Join(dir, ackFileName), data, 0o600)
		o, err := Open(dir, Options{Logger: quiet})
		if err != nil {
			return
		}
		defer o.Close()
		es, _ := o.Pending(0, 0)
		for _, e := range es {
			if e.Seq < 1 || e.Seq > 3 {
				t.Fatalf("pending seq %d from nowhere", e.Seq)
			}
		}
	})
}

func FuzzOpenJournal(f *testing.F) {
	good := []byte(magicJournal)
	good = append(good, encodeJournal(recBegin, testNow, "cmd-1", []byte("d"))...)
	good = append(good, encodeJournal(recFinish, testNow, "cmd-1", []byte("ok"))...)
	good = append(good, encodeJournal(recBegin, testNow, "cmd-2", nil)...)
	good = append(good, encodeJournal(recUpdate, testNow, "cmd-2", []byte(`{"started":true}`))...)
	f.Add(good)
	f.Add(append([]byte(magicJournal), encodeJournal(recUpdate, testNow, "cmd-3", []byte("orphan"))...))
	f.Add(good[:len(good)-1])
	f.Add([]byte(magicJournal))
	for _, d := range damagedSeeds(good) {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "journal")
		os.WriteFile(path, data, 0o600)
		j, err := OpenJournal(path, JournalOptions{Logger: quiet})
		if err != nil {
			return
		}
		defer j.Close()
		for _, r := range j.Running() {
			frame := encodeJournal(recBegin, r.Begun, r.ID, r.Detail)
			if !bytes.Contains(data, frame) {
				t.Fatalf("record %q is not a whole record of the input", r.ID)
			}
			if r.State != nil && !bytes.Contains(data, encodeJournal(recUpdate, r.Updated, r.ID, r.State)) {
				t.Fatalf("state of %q is not a whole record of the input", r.ID)
			}
		}
		if already, err := j.Begin("fresh-id-not-in-seeds", nil); err != nil || (already != nil && already.ID != "fresh-id-not-in-seeds") {
			t.Fatalf("Begin after opening fuzzed input: %v, %v", already, err)
		}
	})
}

// FuzzScanFrames drives the codec without files, so it runs fast: every
// frame the scanner accepts must re-encode to input bytes, the kept ranges
// must hold exactly the accepted frames in order, the damaged ranges and
// the tail must lie between them, and the body decoders must not panic on
// any of them.
func FuzzScanFrames(f *testing.F) {
	f.Add(seedSegment()[magicLen:])
	f.Add(encodeFrame(recAck, encodeAcks([]uint64{5, 6, 9})))
	f.Add(encodeJournal(recFinish, testNow, "cmd-1", []byte("ok")))
	f.Add(encodeJournal(recUpdate, testNow, "cmd-1", []byte(`{"log_lines":3}`)))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1})
	for _, d := range damagedSeeds(seedSegment()) {
		f.Add(d[magicLen:])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var accepted []byte
		rep, err := scanFrames(bytes.NewReader(data), int64(len(data)), func(off int64, typ recType, body []byte) error {
			frame := encodeFrame(typ, body)
			if off != int64(len(accepted)) || !bytes.Contains(data, frame) {
				t.Fatalf("frame at %d does not re-encode to its input", off)
			}
			accepted = append(accepted, frame...)
			decodeAppend(body)
			decodeAcks(body)
			decodeJournal(body)
			return nil
		})
		if err != nil || rep.tail > int64(len(data)) {
			t.Fatalf("scan: tail %d of %d, %v", rep.tail, len(data), err)
		}
		var kept []byte
		end := int64(0)
		for _, k := range rep.kept {
			if k.off < end {
				t.Fatalf("kept ranges overlap or go back: %+v", rep.kept)
			}
			kept = append(kept, data[k.off:k.off+k.n]...)
			end = k.off + k.n
		}
		if !bytes.Equal(kept, accepted) || end > rep.tail {
			t.Fatalf("kept ranges %+v do not hold the accepted frames before the tail %d", rep.kept, rep.tail)
		}
		for _, d := range rep.damaged {
			if d.n <= 0 || d.off+d.n > end {
				t.Fatalf("damaged range %+v is not followed by a record (last kept byte %d)", d, end)
			}
		}
	})
}

// damagedSeeds are file contents with damage where a crash cannot put it:
// 64 bytes of garbage in the middle, a record's bytes zeroed, a bit flipped
// in a length, and two damaged places.
func damagedSeeds(good []byte) [][]byte {
	garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 16)
	mid := magicLen + (len(good)-magicLen)/2
	overwritten := bytes.Clone(good)
	copy(overwritten[mid:], garbage)
	inserted := append(append(bytes.Clone(good[:mid]), garbage...), good[mid:]...)
	zeroed := bytes.Clone(good)
	clear(zeroed[magicLen+3 : magicLen+40])
	length := bytes.Clone(good)
	length[magicLen+1] ^= 0x40
	twice := bytes.Clone(overwritten)
	copy(twice[magicLen+2:], garbage[:16])
	return [][]byte{overwritten, inserted, zeroed, length, twice}
}
