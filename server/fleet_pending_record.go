package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// recordAnnounce checks proof m, which client sent on connection conn,
// against the client's open challenge and, in the same transaction, stores
// what a verified proof established. It returns the challenge and the answer
// for the agent, or why the proof is refused (the challenge is spent all the
// same):
//   - a new machine gets a pending row and "pending"; if its address holds
//     its share of the queue, or the queue is full, waiting rows make room
//     for it first (makeRoom, fleet_pending_queue.go);
//   - a waiting one has its row refreshed (versions, seal key, address, last
//     seen) and gets "pending" again;
//   - a rejected one gets "rejected" again until its row expires;
//   - an accepted one gets its sealed credentials again, so an approval
//     given while it was offline is not lost. If it now proves a different
//     seal key (it lost its old one but kept its identity key), the host's
//     MQTT secret is replaced and sealed to the new key: the old secret was
//     never used, as the row goes away when the host first connects.
func (s *Service) recordAnnounce(ctx context.Context, client string, conn uint64, m *topics.AnnounceProof) (
	*challenge, *topics.AnnounceStatus, *proofRefusal, error) {
	now := s.now()
	var ch *challenge
	var refused *proofRefusal
	var status *topics.AnnounceStatus
	var made roomMade
	changed := false
	resealed := "" // the host whose MQTT secret was replaced
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if ch, refused, err = takeChallenge(ctx, tx, client, conn, m, now); err != nil || refused != nil {
			return err // committed on a refusal: the challenge is spent
		}
		h := ch.hello
		fp := topics.KeyFingerprint(h.IdentityKey)
		var row pendingRow
		err = tx.GetContext(ctx, &row, `SELECT `+pendingRowColumns+` FROM pending_hosts WHERE client_id = ?`, h.Client)
		if err == nil && !now.Before(row.ExpiresAt) {
			// Expired but not swept yet: as good as gone.
			if _, err := tx.ExecContext(ctx, `DELETE FROM pending_hosts WHERE id = ?`, row.ID); err != nil {
				return err
			}
			err, changed = errNoRow, true
		}
		switch {
		case isNoRows(err) || err == errNoRow:
			if made, err = s.makeRoom(ctx, tx, ch.addr, now); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO pending_hosts (client_id, hostname, os, arch, agent_version, restic_version,
				identity_key, seal_key, fingerprint, source_addr, first_seen, last_seen, expires_at, state)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, h.Client, h.Hostname, h.OS, h.Arch, h.AgentVersion, h.ResticVersion,
				h.IdentityKey, h.SealKey, fp, ch.addr, now, now, now.Add(s.ann.opts.TTL), PendingStatePending)
			if err != nil {
				return err
			}
			status, changed = announceStatus(topics.AnnouncePending, fp, msgWaiting, nil), true
		case err != nil:
			return err
		case row.State == PendingStatePending:
			_, err := tx.ExecContext(ctx, `UPDATE pending_hosts SET hostname = ?, os = ?, arch = ?, agent_version = ?, restic_version = ?,
				seal_key = ?, source_addr = ?, last_seen = ? WHERE id = ?`, h.Hostname, h.OS, h.Arch, h.AgentVersion, h.ResticVersion,
				h.SealKey, ch.addr, now, row.ID)
			if err != nil {
				return err
			}
			status, changed = announceStatus(topics.AnnouncePending, fp, msgWaiting, nil), true
		case row.State == PendingStateRejected:
			status = announceStatus(topics.AnnounceRejected, fp, msgRejected, nil)
		case row.State == PendingStateApproved:
			sealed := row.Sealed
			if !bytes.Equal(row.SealKey, h.SealKey) || len(sealed) == 0 {
				if sealed, err = s.resealCredentials(ctx, tx, &row, h.SealKey); err != nil {
					return err
				}
				resealed = *row.HostID
			}
			status = announceStatus(topics.AnnounceApproved, fp, "This machine was accepted; here are its credentials.", sealed)
		default:
			return fmt.Errorf("pending host %d has unknown state %q", row.ID, row.State)
		}
		return nil
	})
	if err != nil || refused != nil {
		return nil, nil, refused, err
	}
	if resealed != "" {
		s.creds.forget(resealed) // the old secret stops working now
	}
	s.roomMadeFor(client, ch.addr, made)
	if changed {
		s.events.Publish(Event{Kind: EventPendingChanged})
	}
	return ch, status, nil, nil
}

// errNoRow marks a row that exists but counts as absent (expired).
var errNoRow = errors.New("pending host expired")

// resealCredentials gives an accepted machine a new MQTT secret sealed to
// sealKey, for when it proves a seal key other than the one accepted.
func (s *Service) resealCredentials(ctx context.Context, tx *sqlx.Tx, row *pendingRow, sealKey []byte) ([]byte, error) {
	if row.HostID == nil {
		return nil, fmt.Errorf("accepted pending host %d has no host", row.ID)
	}
	var name string
	if err := tx.GetContext(ctx, &name, `SELECT name FROM hosts WHERE id = ? AND revoked_at IS NULL`, *row.HostID); err != nil {
		return nil, fmt.Errorf("load accepted host %s: %w", *row.HostID, err)
	}
	secret, err := newMQTTSecret()
	if err != nil {
		return nil, err
	}
	sealed, err := s.sealCredentials(sealKey, *row.HostID, name, secret)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE hosts SET mqtt_secret_hash = ? WHERE id = ?`, tokenHash(secret), *row.HostID); err != nil {
		return nil, err
	}
	if err := s.provisionHost(*row.HostID, secret); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE pending_hosts SET seal_key = ?, sealed = ? WHERE id = ?`, sealKey, sealed, row.ID); err != nil {
		return nil, err
	}
	s.log.Info("accepted machine proved a new seal key; its MQTT secret was replaced", "host", *row.HostID, "client", row.ClientID)
	return sealed, nil
}

// sealCredentials encrypts what an accepted agent needs to the agent's
// X25519 key. The plaintext exists only in memory, here.
func (s *Service) sealCredentials(sealKey []byte, hostID, name, secret string) ([]byte, error) {
	ep := s.ann.endpointNow()
	creds := topics.ApprovedCredentials{HostID: hostID, HostName: name, MQTTURL: ep.mqttURL, MQTTPassword: secret,
		CACert: string(ep.caCertPEM), CAFingerprint: ep.caFingerprint}
	if err := creds.Validate(); err != nil {
		return nil, fmt.Errorf("approved credentials: %w", err)
	}
	plain, err := json.Marshal(&creds)
	if err != nil {
		return nil, err
	}
	return topics.SealCredentials(sealKey, plain)
}

// hostArrived is called when a host connects; a host accepted through
// announce has its pending row (and the sealed credentials) deleted the
// first time. It costs one map lookup for every other host. The map holds
// the hosts this replica accepted and, since its last pending sweep, those
// the store says any replica accepted.
func (s *Service) hostArrived(ctx context.Context, hostID string) {
	if !s.ann.arrived(hostID) {
		return
	}
	var clients []string
	if err := s.db.SelectContext(ctx, &clients, `SELECT client_id FROM pending_hosts WHERE host_id = ?`, hostID); err != nil {
		s.log.Error("announce: read the pending row of a connected host", "host", hostID, "err", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM pending_hosts WHERE host_id = ?`, hostID); err != nil {
		s.log.Error("announce: delete the pending row of a connected host", "host", hostID, "err", err)
		return
	}
	s.dropPendingClients(clients...)
	s.events.Publish(Event{Kind: EventPendingChanged})
}

// sweepPendingHosts deletes expired rows and open challenges, and accepted
// rows whose host has connected (hostArrived covers that at once; this covers a server restart
// in between). Machines still waiting when their row expires are told, if
// they are listening, so they stop waiting.
func (s *Service) sweepPendingHosts(ctx context.Context) error {
	now := s.now()
	s.ann.prune(now, s.ann.opts.TTL)
	var expired, arrived []string
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := deleteExpiredChallenges(ctx, tx, now); err != nil {
			return err
		}
		if err := pruneAnnounceRates(ctx, tx, now); err != nil {
			return err
		}
		if err := tx.SelectContext(ctx, &expired, `SELECT client_id FROM pending_hosts WHERE state = ? AND expires_at <= ?`,
			PendingStatePending, now); err != nil {
			return err
		}
		const arrivedRows = `state = ? AND host_id IN (SELECT id FROM hosts WHERE connected_at IS NOT NULL)`
		if err := tx.SelectContext(ctx, &arrived, `SELECT client_id FROM pending_hosts WHERE `+arrivedRows,
			PendingStateApproved); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM pending_hosts WHERE expires_at <= ? OR `+arrivedRows, now, PendingStateApproved)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			s.log.Info("pending hosts swept", "deleted", n, "expired_waiting", len(expired))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sweep pending hosts: %w", err)
	}
	// The rows are gone: tell the expired machines now, before anything
	// else can fail (a stopping server's context ends the read below).
	for _, client := range expired {
		s.sendAnnounce(client, announceStatus(topics.AnnounceRejected, "", msgExpired, nil))
	}
	s.dropPendingClients(append(expired, arrived...)...)
	if len(expired) > 0 {
		s.events.Publish(Event{Kind: EventPendingChanged})
	}
	// The hosts accepted and not connected yet, as the store has them: on
	// every replica, not only the one that accepted them (hostArrived). One
	// accepted here between this read and the replacement is left to the
	// next sweep.
	var awaited []string
	if err := s.db.SelectContext(ctx, &awaited, `SELECT host_id FROM pending_hosts WHERE state = ? AND host_id IS NOT NULL`,
		PendingStateApproved); err != nil {
		return fmt.Errorf("sweep pending hosts: read the accepted ones: %w", err)
	}
	s.ann.awaitOnly(awaited)
	s.sweepPendingClients()
	return nil
}
