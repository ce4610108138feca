package outbox

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

// A frame is one record on disk:
//
//	length u32 | crc u32 | type u8 | body
//
// length counts the type byte and the body. crc is CRC-32C (Castagnoli) over
// the four length bytes, the type byte and the body, so a damaged length is
// caught as surely as a damaged body. Integers are little-endian. Every file
// starts with an 8-byte magic naming what it holds and the format version.
const (
	frameHeader  = 8
	maxFrameBody = 8 << 20 // larger lengths are damage, never allocated
	magicLen     = 8
)

// File magics. The trailing digit is the format version.
const (
	magicSegment = "RMOBSEG1"
	magicAcks    = "RMOBACK1"
	magicJournal = "RMJRNL01"
)

// recType says what a frame's body is.
type recType byte

const (
	recAppend recType = 1 // outbox segment: one entry
	recAck    recType = 2 // ack file: a batch of acknowledged seqs
	recBegin  recType = 3 // journal: a command was received
	recFinish recType = 4 // journal: a command finished, with its outcome
	recUpdate recType = 5 // journal: an unfinished command's latest state
)

func (t recType) known() bool { return t >= recAppend && t <= recUpdate }

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errInvalid marks bytes that are not a valid record: scanFrames looks for
// the next valid frame after them.
var errInvalid = errors.New("invalid record")

// encodeFrame returns the frame for a record of type typ whose body is the
// concatenation of parts.
func encodeFrame(typ recType, parts ...[]byte) []byte {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	buf := make([]byte, frameHeader+n)
	binary.LittleEndian.PutUint32(buf[0:4], uint32(n))
	buf[8] = byte(typ)
	off := frameHeader + 1
	for _, p := range parts {
		off += copy(buf[off:], p)
	}
	binary.LittleEndian.PutUint32(buf[4:8], frameCRC(buf))
	return buf
}

// frameCRC is the checksum of a whole frame (its crc field excluded).
func frameCRC(frame []byte) uint32 {
	c := crc32.Update(0, crcTable, frame[0:4])
	return crc32.Update(c, crcTable, frame[frameHeader:])
}

// frameLen is the length of the frame whose header starts b, or errInvalid
// when the length field cannot be right.
func frameLen(b []byte) (int, error) {
	if len(b) < frameHeader {
		return 0, errInvalid
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	if n < 1 || n > maxFrameBody+1 {
		return 0, errInvalid
	}
	return frameHeader + int(n), nil
}

// decodeFrame checks the frame at the start of b and returns its type and
// body (a sub-slice of b) and the frame's length.
func decodeFrame(b []byte) (recType, []byte, int, error) {
	total, err := frameLen(b)
	if err != nil || len(b) < total {
		return 0, nil, 0, errInvalid
	}
	if binary.LittleEndian.Uint32(b[4:8]) != frameCRC(b[:total]) {
		return 0, nil, 0, errInvalid
	}
	return recType(b[frameHeader]), b[frameHeader+1 : total : total], total, nil
}

// scanReport is what scanFrames found besides the records it accepted.
// Offsets are relative to the start of the scanned bytes.
type scanReport struct {
	// kept are the byte ranges of the accepted frames, in order, adjacent
	// ones merged: what a repaired copy holds.
	kept []span
	// damaged are ranges that are not valid records but have valid
	// records after them: damage in the middle, not a torn write.
	damaged []span
	// tail is where the bytes after the last accepted frame begin when
	// no valid record follows them (a torn last write, or damage that
	// reaches the end); size when there are none.
	tail int64
	// records counts the accepted frames; after, those of them found
	// after the first invalid byte.
	records, after int
}

// span is a range of bytes.
type span struct{ off, n int64 }

// keptBytes is how long a repaired copy's frames are.
func (r *scanReport) keptBytes() int64 {
	var n int64
	for _, s := range r.kept {
		n += s.n
	}
	return n
}

// scanFrames reads the frames in r, which holds exactly size bytes, and
// calls fn with each valid one (body is freshly allocated and may be kept).
// A frame that is short, fails its CRC, or that fn rejects with errInvalid
// is not a record. A torn write can only be the last thing in a file, so
// the scan does not stop there: it looks at every later byte for the next
// valid frame (its length, type and CRC must hold, and fn must accept it)
// and goes on from there, so that damage in the middle costs only the
// records it hit. The bytes from the last accepted frame to the end are
// the tail. off, as fn sees it, is where the frame starts once the damaged
// ranges are cut out (the offset in a repaired copy); without damage that
// is where it is in r. Other errors (I/O, or from fn) are returned as they
// are.
func scanFrames(r io.ReaderAt, size int64, fn func(off int64, typ recType, body []byte) error) (scanReport, error) {
	rep := scanReport{tail: size}
	var logical int64 // offset in the repaired copy
	// accept hands the frame at phys to fn; a frame read from the shared
	// buffer of a resync is copied first, since fn may keep the body.
	accept := func(phys int64, frame []byte, resync bool) (bool, error) {
		typ, body, total, err := decodeFrame(frame)
		if err != nil || !typ.known() {
			return false, nil
		}
		if resync {
			body = bytes.Clone(body)
		}
		if err := fn(logical, typ, body); err != nil {
			if errors.Is(err, errInvalid) {
				return false, nil
			}
			return false, err
		}
		if k := len(rep.kept); k > 0 && rep.kept[k-1].off+rep.kept[k-1].n == phys {
			rep.kept[k-1].n += int64(total)
		} else {
			rep.kept = append(rep.kept, span{phys, int64(total)})
		}
		logical += int64(total)
		rep.records++
		if resync {
			rep.after++
		}
		return true, nil
	}

	// The common case: frame after frame, streamed.
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10)
	var off int64
	var hdr [frameHeader]byte
	for size-off >= frameHeader+1 {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			rep.tail = off // the file shrank under us: like a torn tail
			return rep, ignoreEOF(err)
		}
		total, err := frameLen(hdr[:])
		if err != nil || int64(total) > size-off {
			break
		}
		frame := make([]byte, total)
		copy(frame, hdr[:])
		if _, err := io.ReadFull(br, frame[frameHeader:]); err != nil {
			rep.tail = off // the file shrank under us: like a torn tail
			return rep, ignoreEOF(err)
		}
		ok, err := accept(off, frame, false)
		if err != nil {
			return rep, err
		}
		if !ok {
			break
		}
		off += int64(total)
	}
	if off == size {
		return rep, nil
	}

	// What starts at off is not a record: read the rest and look for the
	// next valid frame at every later byte.
	rest := make([]byte, size-off)
	if _, err := r.ReadAt(rest, off); err != nil && !errors.Is(err, io.EOF) {
		return rep, err
	}
	n := int64(len(rest))
	bad := int64(0) // start of the invalid range we are in, or -1
	pos := int64(1)
	for n-pos >= frameHeader+1 {
		if total, err := frameLen(rest[pos:]); err == nil && int64(total) <= n-pos {
			ok, err := accept(off+pos, rest[pos:pos+int64(total)], true)
			if err != nil {
				return rep, err
			}
			if ok {
				if bad >= 0 {
					rep.damaged = append(rep.damaged, span{off + bad, pos - bad})
					bad = -1
				}
				pos += int64(total)
				continue
			}
		}
		if bad < 0 {
			bad = pos
		}
		pos++
	}
	if bad < 0 {
		bad = pos // fewer bytes left than a frame needs
	}
	rep.tail = off + min(bad, n)
	return rep, nil
}

// ignoreEOF treats a file that ended early (it shrank under us) like a torn
// tail rather than an I/O failure.
func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}
