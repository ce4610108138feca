package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Download relays (#15): with several replicas behind a load balancer the
// agent's upload (HTTPS) may reach another replica than the one whose
// person waits for the bytes. Every download started on PostgreSQL has a
// row in download_relays; the upload claims it (one conditional UPDATE,
// so a token is spent once across replicas). When the claiming replica is
// the download's own, the upload is handed over in memory as on SQLite.
// When it is another, that replica copies the upload into download_chunks
// in chunks of relayChunk bytes, at most relayWindow unread ones per
// download and maxRelayChunks in all (it waits while either is full: the
// store is the flow control, as the TCP connection is in memory), and the
// download's replica reads them in order and deletes each. The download's
// end comes back the same way (outcome), and the relaying replica answers
// the agent with it. Rows of a replica that vanished expire and are
// pruned when the next download starts.
//
// Why the store and not a forward to the owning replica: a forward needs
// each replica's own address, reachable from the others, configured and
// kept right; the store is already shared. A download through the store
// costs its bytes twice in the database's traffic and a little latency
// per chunk, and downloads are rare, interactive and bounded in number.

// Bounds of the relayed downloads.
const (
	// relayChunk is the size of one chunk row.
	relayChunk = 256 << 10
	// relayWindow is how many chunks of one download may wait unread.
	relayWindow = 8
	// maxRelayChunks is how many chunks may wait in the store in all
	// (64 MiB).
	maxRelayChunks = 256
	// relayIdle is how long either side waits for the other's progress
	// (a chunk read, a chunk written, the outcome) before it gives up.
	relayIdle = time.Minute
	// relayPollMax is the longest pause between two looks at the store
	// while waiting; the first look is at once and pauses double from 10 ms.
	relayPollMax = 200 * time.Millisecond
)

// downloadRelay is a download's row in the store (PostgreSQL only).
type downloadRelay struct {
	s    *Service
	hash []byte // SHA-256 of the upload token
	// remote is set once the upload was claimed by another replica: the
	// bytes come from download_chunks, and Finish answers through outcome.
	remote bool
}

// relayState is a download_relays row as the sides read it.
type relayState struct {
	Relay   string  `db:"relay"`
	State   string  `db:"state"`
	Chunks  int64   `db:"chunks"`
	Error   string  `db:"error"`
	Outcome *string `db:"outcome"`
}

// openRelay records a download just registered, so that any replica can
// take its upload; it prunes the rows of relays that expired first.
func (s *Service) openRelay(ctx context.Context, d *Download) error {
	now := s.now()
	if _, err := s.db.ExecContext(ctx, `DELETE FROM download_chunks WHERE token_hash IN
		(SELECT token_hash FROM download_relays WHERE expires_at < ?)`, now); err != nil {
		return internal("Could not prune expired download relays", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM download_relays WHERE expires_at < ?`, now); err != nil {
		return internal("Could not prune expired download relays", err)
	}
	r := &downloadRelay{s: s, hash: tokenHash(d.token)}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO download_relays (token_hash, host_id, owner, state, expires_at)
		VALUES (?, ?, ?, 'waiting', ?)`, r.hash, d.Request.HostID, s.cluster.id,
		now.Add(orDefault(d.reg.startTimeout, DownloadStartTimeout)+relayIdle)); err != nil {
		return internal("Could not record the download", err)
	}
	d.relay = r
	return nil
}

// state reads the relay's row; gone (nil, nil) when it is no more.
func (r *downloadRelay) state(ctx context.Context) (*relayState, error) {
	var st relayState
	err := r.s.db.GetContext(ctx, &st, `SELECT relay, state, chunks, error, outcome FROM download_relays WHERE token_hash = ?`, r.hash)
	if isNoRows(err) {
		return nil, nil
	}
	return &st, err
}

// claimedElsewhere is closed when another replica claims the upload; it
// looks until ctx ends.
func (r *downloadRelay) claimedElsewhere(ctx context.Context) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		_ = pollStore(ctx, 0, func() (bool, error) {
			st, err := r.state(ctx)
			if err != nil || st == nil {
				return st == nil, err
			}
			if st.Relay != "" && st.Relay != r.s.cluster.id {
				close(out)
				return true, nil
			}
			return false, nil
		})
	}()
	return out
}

// abandon ends a relay still waiting for its upload, and reports whether
// another replica claimed it first (then its bytes are to be read).
func (r *downloadRelay) abandon(ctx context.Context) (claimed bool) {
	res, err := r.s.db.ExecContext(ctx, `UPDATE download_relays SET state = 'gone' WHERE token_hash = ? AND state = 'waiting'`, r.hash)
	if err != nil {
		r.s.log.Warn("download: abandon relay", "err", err)
		return false
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return false
	}
	st, err := r.state(ctx)
	return err == nil && st != nil && st.Relay != "" && st.Relay != r.s.cluster.id
}

// finish tells the relaying replica how the download ended, or drops the
// row of a download whose upload came here or never came.
func (r *downloadRelay) finish(failure error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if r.remote {
		outcome := ""
		if failure != nil {
			outcome = failureText(failure)
		}
		if _, err = r.s.db.ExecContext(ctx, `DELETE FROM download_chunks WHERE token_hash = ?`, r.hash); err == nil {
			_, err = r.s.db.ExecContext(ctx, `UPDATE download_relays SET outcome = ?, expires_at = ? WHERE token_hash = ?`,
				outcome, r.s.now().Add(relayIdle), r.hash)
		}
	} else {
		_, err = r.s.db.ExecContext(ctx, `DELETE FROM download_relays WHERE token_hash = ?`, r.hash)
	}
	if err != nil {
		r.s.log.Warn("download: end relay", "err", err)
	}
}

// claimUpload spends token for hostID's upload in the store and says
// whether the download is this replica's own. A wrong host does not
// spend it.
func (s *Service) claimUpload(ctx context.Context, hostID, token string) (own bool, err error) {
	hash := tokenHash(token)
	var owner string
	err = s.db.w.GetContext(ctx, &owner, `UPDATE download_relays SET state = 'claimed', relay = ?
		WHERE token_hash = ? AND host_id = ? AND state = 'waiting' AND expires_at > ? RETURNING owner`,
		s.cluster.id, hash, hostID, s.now())
	if err == nil {
		return owner == s.cluster.id, nil
	}
	if !isNoRows(err) {
		return false, internal("Could not take the upload", err)
	}
	var host string
	if err := s.db.GetContext(ctx, &host, `SELECT host_id FROM download_relays WHERE token_hash = ? AND state = 'waiting'`, hash); err == nil && host != hostID {
		return false, &Error{Code: CodeForbidden, Message: "This upload token was issued to another host."}
	}
	return false, notFoundf("This upload token is unknown, used or expired; the download it was for has ended.")
}

// relayUpload copies an upload claimed for another replica's download into
// the store and waits for that download's end: it is AttachUpload's wait.
func (s *Service) relayUpload(token string, body io.Reader) func(context.Context) error {
	hash := tokenHash(token)
	return func(ctx context.Context) error {
		err := s.writeRelay(ctx, hash, body)
		if err != nil {
			s.failRelay(hash, err)
			return err
		}
		return s.relayOutcome(ctx, hash)
	}
}

// writeRelay writes body's chunks, then marks the relay done.
func (s *Service) writeRelay(ctx context.Context, hash []byte, body io.Reader) error {
	buf := make([]byte, relayChunk)
	for seq := int64(0); ; seq++ {
		n, rerr := io.ReadFull(body, buf)
		end := errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF)
		if rerr != nil && !end {
			return rerr
		}
		if n > 0 {
			if err := s.waitRelayRoom(ctx, hash); err != nil {
				return err
			}
			if _, err := s.db.ExecContext(ctx, `INSERT INTO download_chunks (token_hash, seq, data) VALUES (?, ?, ?)`, hash, seq, buf[:n]); err != nil {
				return internal("Could not pass the download on", err)
			}
			if _, err := s.db.ExecContext(ctx, `UPDATE download_relays SET chunks = ?, expires_at = ? WHERE token_hash = ?`,
				seq+1, s.now().Add(relayIdle), hash); err != nil {
				return internal("Could not pass the download on", err)
			}
		}
		if end {
			_, err := s.db.ExecContext(ctx, `UPDATE download_relays SET state = 'done' WHERE token_hash = ?`, hash)
			if err != nil {
				return internal("Could not pass the download on", err)
			}
			return nil
		}
	}
}

// errRelayGone is a relay whose download ended (or vanished) on its own
// replica before the upload did.
var errRelayGone = errors.New("the download ended on the server the person reads from")

// waitRelayRoom waits until the download's unread chunks and all relays'
// chunks are under their bounds, or the download ended.
func (s *Service) waitRelayRoom(ctx context.Context, hash []byte) error {
	return pollStore(ctx, relayIdle, func() (bool, error) {
		var row struct {
			Mine    int     `db:"mine"`
			All     int     `db:"all_chunks"`
			Outcome *string `db:"outcome"`
			Found   int     `db:"found"`
		}
		err := s.db.GetContext(ctx, &row, `SELECT
			(SELECT COUNT(*) FROM download_chunks WHERE token_hash = ?) AS mine,
			(SELECT COUNT(*) FROM download_chunks) AS all_chunks,
			(SELECT outcome FROM download_relays WHERE token_hash = ?) AS outcome,
			(SELECT COUNT(*) FROM download_relays WHERE token_hash = ?) AS found`, hash, hash, hash)
		switch {
		case err != nil:
			return false, internal("Could not pass the download on", err)
		case row.Found == 0:
			return false, errRelayGone
		case row.Outcome != nil:
			return false, relayFailure(*row.Outcome)
		}
		return row.Mine < relayWindow && row.All < maxRelayChunks, nil
	})
}

// failRelay marks a relay whose upload broke, so the reader says so.
func (s *Service) failRelay(hash []byte, failure error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, `UPDATE download_relays SET state = 'failed', error = ? WHERE token_hash = ? AND state = 'claimed'`,
		clipText(failure.Error()), hash); err != nil {
		s.log.Warn("download: fail relay", "err", err)
	}
}

// relayOutcome waits for the download's end, as its replica says it, and
// drops the row.
func (s *Service) relayOutcome(ctx context.Context, hash []byte) error {
	var outcome error
	err := pollStore(ctx, relayIdle, func() (bool, error) {
		var o *string
		err := s.db.GetContext(ctx, &o, `SELECT outcome FROM download_relays WHERE token_hash = ?`, hash)
		switch {
		case isNoRows(err):
			return false, errRelayGone
		case err != nil:
			return false, internal("Could not read how the download ended", err)
		case o == nil:
			return false, nil
		}
		outcome = relayFailure(*o)
		return true, nil
	})
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(context.WithoutCancel(ctx), `DELETE FROM download_relays WHERE token_hash = ?`, hash); err != nil {
		s.log.Warn("download: drop relay", "err", err)
	}
	return outcome
}

// relayFailure is the error a stored outcome stands for (nil: complete).
func relayFailure(outcome string) error {
	if outcome == "" {
		return nil
	}
	return errors.New(outcome)
}

// relayReader reads a relayed upload's chunks in order, deleting each: it
// reads to io.EOF only once the relaying replica marked the upload done
// and every chunk was read.
type relayReader struct {
	ctx context.Context
	r   *downloadRelay
	seq int64
	buf []byte
	err error
}

func (rr *relayReader) Read(p []byte) (int, error) {
	for len(rr.buf) == 0 && rr.err == nil {
		rr.err = rr.next()
	}
	if len(rr.buf) == 0 {
		return 0, rr.err
	}
	n := copy(p, rr.buf)
	rr.buf = rr.buf[n:]
	return n, nil
}

// next waits for the next chunk (buf) or the end.
func (rr *relayReader) next() error {
	s, hash := rr.r.s, rr.r.hash
	return pollStore(rr.ctx, relayIdle, func() (bool, error) {
		var data []byte
		err := s.db.GetContext(rr.ctx, &data, `SELECT data FROM download_chunks WHERE token_hash = ? AND seq = ?`, hash, rr.seq)
		if err == nil {
			if _, err := s.db.ExecContext(rr.ctx, `DELETE FROM download_chunks WHERE token_hash = ? AND seq = ?`, hash, rr.seq); err != nil {
				return false, internal("Could not read the download", err)
			}
			rr.buf, rr.seq = data, rr.seq+1
			return true, nil
		}
		if !isNoRows(err) {
			return false, internal("Could not read the download", err)
		}
		st, err := rr.r.state(rr.ctx)
		switch {
		case err != nil:
			return false, internal("Could not read the download", err)
		case st == nil:
			return false, errRelayGone
		case st.State == "failed":
			return false, fmt.Errorf("the upload broke: %s", st.Error)
		case st.State == "done" && st.Chunks == rr.seq:
			return false, io.EOF
		}
		return false, nil
	})
}

// pollStore calls look at once and then after growing pauses (at most
// relayPollMax) until it reports done or fails, ctx ends, or idle (if
// set) passes. Waiting on the store by polling: the relays are few and
// short, and the event bridge carries IDs of the domain, not bytes.
func pollStore(ctx context.Context, idle time.Duration, look func() (bool, error)) error {
	pause := 10 * time.Millisecond
	var deadline <-chan time.Time
	if idle > 0 {
		t := time.NewTimer(idle)
		defer t.Stop()
		deadline = t.C
	}
	for {
		done, err := look()
		if done || err != nil {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-deadline:
			t.Stop()
			return errors.New("the other server replica made no progress for a minute")
		case <-t.C:
		}
		pause = min(2*pause, relayPollMax)
	}
}
