// Package outbox is the agent's memory for DESIGN §3 "Nothing lost, nothing
// run twice": a durable outbox of the messages it must deliver, and a
// command journal of the commands it has received.
//
// # Outbox
//
// Every event, result and log batch goes through the outbox:
//
//	seq, err := ob.AppendWith(outbox.KindEvent, topic, func(seq uint64) ([]byte, error) {
//		return encode(message with Seq: seq)                 // built under the lock
//	})                                                       // on disk (fsync'd) when it returns
//	publish(topic, payload)                                  // only now
//	... down/ack names seq ...
//	ob.Ack(seq)                                              // gone, durably
//
// A PUBACK is not proof of delivery (Mochi acks before the server stores),
// so only Ack, driven by down/ack, removes an entry. On every reconnect the
// agent puts HighWater in hello (outbox_high) and resends Pending, page by
// page, in seq order. The outbox treats payloads as opaque bytes; the
// agent's messages carry their own seq (AppendWith hands it to the builder
// before the entry is written), so a resend is the stored bytes as they
// are and the server can name the seq in down/ack and store idempotently.
// Append is AppendWith for a payload that does not need its seq.
//
// Acks are per entry and may come in any order, repeated, or for seqs the
// outbox no longer has: QoS 1 redelivery and resends reorder them, and the
// server's batching writer stores whatever arrived. Ack(seqs...) takes any
// set; AckThrough(n) serves a server that reports a high-water mark. An ack
// for a seq not yet assigned is ignored, so it cannot cover a later entry.
//
// # Journal
//
// Begin(id, detail) records a command before it runs; for an ID seen before
// it writes nothing and returns the record, so the caller answers with the
// recorded outcome and never runs the command twice. Update(id, state)
// records, while the command is unfinished, what the agent must know about
// it after a crash (the agent's job state: whether restic started, how many
// log lines were stored); the latest Update wins. Finish records the
// outcome. After a restart, Running lists the unfinished commands with
// their last state: the agent reports those that had started interrupted
// and Finishes them, and queues the others again. Finished
// records are forgotten after JournalOptions.Keep (30 days), which must
// outlast any command's expires_at.
//
// # On disk
//
// An outbox directory holds segment files, 00000000000000000042.seg (named
// after the first seq they may hold, so even an empty one carries the seq
// counter across restarts), and one ack file, "acks". The journal is one
// file. Each file starts with an 8-byte magic (format and version) followed
// by frames:
//
//	length u32 | crc32c u32 | type u8 | body        (little-endian)
//
// The CRC covers the length, type and body. Bodies: an entry is seq u64 |
// kind u8 | topic length u16 | topic | payload; an ack record is a count and
// the acked seqs as uvarint gaps; a journal record is unix nanos i64 | id
// length u8 | id | detail, state or outcome. Appends go at the end and are
// fsync'd; a segment rotates at Options.SegmentBytes (4 MiB). Acks have
// their own file so that any segment whose entries are all acked can be
// deleted at once, whatever its age: an entry the server never acknowledges
// pins its own segment, not the whole log. The ack file and the journal are
// rewritten (temporary file, fsync, rename, directory fsync) when dead
// records dominate them. Directories are fsync'd after files are created,
// renamed or removed.
//
// # Crash guarantees
//
//   - An entry whose Append returned survives a crash or power loss (given
//     a disk that honours fsync), and its seq is never reused. Seqs strictly
//     increase across restarts.
//   - An entry whose Ack returned never comes back after a restart.
//   - Power loss mid-write leaves a torn or garbled last record; Open finds
//     it (short frame or bad CRC), cuts it off and goes on. That write's
//     call never returned, so nothing promised is lost. If it was an ack,
//     the entries it named are resent: the server stores idempotently by
//     seq, so at worst a message is delivered twice, never lost.
//   - Segments are deleted before the acks for them are forgotten, so a
//     crash in between cannot resurrect an acked entry.
//   - Damage is not a torn write. A crash tears only the last record of a
//     file; invalid bytes with valid records after them (media damage, a
//     file written over), or anywhere in an older segment (complete when it
//     was sealed), are damage. Open does not stop there: it looks at every
//     later byte for the next valid frame (length, type, CRC and the
//     record's own checks) and keeps every record it can read. It writes a
//     repaired copy (fsync'd), keeps the damaged file beside it as
//     <name>.damaged-<UTC time>, renames the copy into place and logs one
//     error line naming the file, the offset, and the records kept and
//     lost (Recovered lists them). Entries lost that way are lost; acks
//     lost mean their entries are sent again; a journal Finish whose Begin
//     was lost still marks its command done. A damaged record found later
//     by Pending is logged and dropped. A file that does not start with our
//     magic makes Open fail with an error that says which file to move
//     away.
//   - One process per directory: nothing locks it (the agent runs as a
//     single service instance).
//
// # When full
//
// Options.MaxBytes (1 GiB) bounds the outbox; an Append beyond it fails
// with ErrFull and writes nothing. The outbox keeps the oldest and refuses
// the newest rather than evicting: evicting would break "nothing lost"
// silently, and what is oldest (results of finished jobs) matters more than
// what is newest (log lines). Log batches are refused once the last
// sixteenth is reached, which keeps room for events and results behind a
// flood of logs. The agent counts the log lines it could not store and says
// so in the job's log once it can store again (or, if it never can before
// the job ends, in the job's result), so the gap is visible rather than
// silent; the events themselves wait for room.
//
// # Why segment files, not bbolt or SQLite
//
// The workload is a queue: append at the tail, trim at the head, read
// everything only after a reconnect. A log of segment files is exactly
// that: one write and one fsync per Append, deletion is unlinking a whole
// file (space comes back at once), and recovery is "scan, cut the torn
// tail". SQLite (modernc, pure Go) would add about 4.5 MB to an agent
// binary of about 8.5 MB (measured with -s -w) and a journal or WAL of its
// own; bbolt is small but rewrites B+tree pages and fsyncs twice per
// commit, never shrinks its file without an offline compaction, and maps
// the whole file into memory. Both are general databases for a job that
// needs none of their generality, and their crash behaviour would be
// theirs to reason about; here it is a few hundred lines of the standard
// library, tested by truncating and corrupting files at every byte.
//
// # Concurrency
//
// Outbox and Journal are safe for concurrent use. One mutex per value
// serialises everything, fsync included: the agent appends a few entries a
// second (log batches are at most one a second per job), far below the
// disk's fsync rate, so group commit is not worth its complexity. Pending
// reads from disk under that mutex, which is why it is paged.
//
// This package must not know about MQTT, JSON or the wire contract, and
// must not publish anything: it stores bytes under seqs and IDs, and the
// agent decides what they mean.
package outbox
