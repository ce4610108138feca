package server

import (
	"context"
	"crypto/ed25519"
	"crypto/subtle"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Open announce challenges live in the store (announce_challenges), not in
// one process's memory: on an external broker the hello and its proof come
// through a shared subscription and may reach different replicas, and the
// replica that gets the proof must find the challenge another one issued.
// Every property the in-memory map had holds here:
//   - one open challenge per pending client: a hello replaces its client's
//     row (offerChallenge);
//   - single use: a proof deletes the row it is checked against in its own
//     transaction (DELETE … RETURNING), right or wrong, so two replicas
//     handling the same proof find one row between them;
//   - bound to the connection it was sent on (conn 0 on an external broker,
//     which reports none) and to ChallengeTTL;
//   - bounded: at most announcer.maxOpen rows; beyond that expired rows are
//     deleted first and, if none are, the hello is refused;
//   - the hello is kept (validated, as it came) for use after the proof.
// The pending sweep deletes expired rows (sweepPendingHosts).

// openChallenge is an announce_challenges row.
type openChallenge struct {
	Nonce   []byte    `db:"nonce"`
	Conn    int64     `db:"conn"`
	Addr    string    `db:"source_addr"`
	Hello   []byte    `db:"hello"`
	Expires time.Time `db:"expires_at"`
}

// offerChallenge stores ch, made for hello (the validated payload it
// answers), as client's one open challenge, replacing an older one. It
// reports false when maxOpen challenges of other clients are open and none
// has expired.
func (s *Service) offerChallenge(ctx context.Context, client string, ch *challenge, hello []byte, now time.Time) (bool, error) {
	offered := false
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		full := func() (bool, error) {
			var n int
			err := tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM announce_challenges WHERE client_id <> ?`, client)
			return n >= s.ann.maxOpen, err
		}
		isFull, err := full()
		if err == nil && isFull {
			if err = deleteExpiredChallenges(ctx, tx, now); err == nil {
				isFull, err = full()
			}
		}
		if err != nil || isFull {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO announce_challenges (client_id, nonce, conn, source_addr, hello, expires_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (client_id) DO UPDATE SET nonce = excluded.nonce, conn = excluded.conn,
			source_addr = excluded.source_addr, hello = excluded.hello, expires_at = excluded.expires_at`,
			client, ch.nonce, int64(ch.conn), ch.addr, hello, ch.expires)
		offered = err == nil
		return err
	})
	return offered, err
}

// proofRefusal says why a proof is refused (a reason for the rejected
// counter, and what went wrong when there is more to say).
type proofRefusal struct {
	why string
	err error
}

// takeChallenge removes client's open challenge in tx and checks proof m,
// which came on conn, against it. It returns the challenge when the proof
// holds, or why it does not (the challenge is spent either way once tx
// commits: a nonce is never good twice). An error is the store's.
func takeChallenge(ctx context.Context, tx *sqlx.Tx, client string, conn uint64, m *topics.AnnounceProof, now time.Time) (*challenge, *proofRefusal, error) {
	var row openChallenge
	err := tx.GetContext(ctx, &row, `DELETE FROM announce_challenges WHERE client_id = ?
		RETURNING nonce, conn, source_addr, hello, expires_at`, client)
	switch {
	case isNoRows(err):
		return nil, &proofRefusal{why: "proof without an open challenge (reused or unknown nonce)"}, nil
	case err != nil:
		return nil, nil, err
	case row.Conn != int64(conn):
		return nil, &proofRefusal{why: "proof from another connection than its challenge"}, nil
	case !now.Before(row.Expires):
		return nil, &proofRefusal{why: "proof after its challenge expired"}, nil
	case subtle.ConstantTimeCompare(row.Nonce, m.Nonce) != 1:
		return nil, &proofRefusal{why: "proof for another nonce"}, nil
	}
	var hello topics.AnnounceHello
	if err := topics.Decode(row.Hello, &hello); err != nil {
		// Stored by a replica of another version: the agent's next hello
		// gets a challenge this one can check.
		return nil, &proofRefusal{why: "the challenge's hello does not decode here", err: err}, nil
	}
	if !ed25519.Verify(hello.IdentityKey, topics.ProofMessage(client, m.Nonce, hello.SealKey), m.Signature) {
		return nil, &proofRefusal{why: "proof signature does not verify"}, nil
	}
	return &challenge{nonce: row.Nonce, conn: conn, expires: row.Expires, hello: &hello, addr: row.Addr}, nil, nil
}

// deleteExpiredChallenges deletes the open challenges expired at now.
func deleteExpiredChallenges(ctx context.Context, db sqlx.ExecerContext, now time.Time) error {
	_, err := db.ExecContext(ctx, `DELETE FROM announce_challenges WHERE expires_at <= ?`, now)
	return err
}
