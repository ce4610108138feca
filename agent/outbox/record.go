package outbox

import (
	"bufio"
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

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errInvalid marks bytes that are not a valid record. A scan stops there:
// with length-prefixed frames nothing after them can be trusted to start on
// a frame boundary.
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

// scanFrames reads the frames in r, which holds exactly size bytes, and
// calls fn with each valid one (off is relative to r's start; body is freshly
// allocated and may be kept). It returns the length of the valid prefix: it
// stops without error at the first frame that is short, fails its CRC, or
// that fn rejects with errInvalid. Other errors (I/O, or from fn) are
// returned as they are.
func scanFrames(r io.Reader, size int64, fn func(off int64, typ recType, body []byte) error) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var off int64
	var hdr [frameHeader]byte
	for size-off >= frameHeader+1 {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return off, ignoreEOF(err)
		}
		total, err := frameLen(hdr[:])
		if err != nil || int64(total) > size-off {
			return off, nil
		}
		frame := make([]byte, total)
		copy(frame, hdr[:])
		if _, err := io.ReadFull(br, frame[frameHeader:]); err != nil {
			return off, ignoreEOF(err)
		}
		typ, body, _, err := decodeFrame(frame)
		if err != nil {
			return off, nil
		}
		if err := fn(off, typ, body); err != nil {
			if errors.Is(err, errInvalid) {
				return off, nil
			}
			return off, err
		}
		off += int64(total)
	}
	return off, nil
}

// ignoreEOF treats a file that ended early (it shrank under us) like a torn
// tail rather than an I/O failure.
func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}
