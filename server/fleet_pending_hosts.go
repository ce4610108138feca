package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Pending host states (the pending_hosts.state column).
const (
	PendingStatePending  = topics.AnnouncePending
	PendingStateApproved = topics.AnnounceApproved
	PendingStateRejected = topics.AnnounceRejected
)

// PendingHost is a machine that announced itself and waits for an admin to
// accept or reject it (DESIGN §4.2). An admin compares Fingerprint with the
// one the machine printed before accepting. It is the JSON API's shape of
// one (docs/DECISIONS.md, "One shape per resource").
type PendingHost struct {
	ID            int64     `db:"id" json:"id"`
	ClientID      string    `db:"client_id" json:"client_id"`
	Hostname      string    `db:"hostname" json:"hostname"`
	OS            string    `db:"os" json:"os"`
	Arch          string    `db:"arch" json:"arch"`
	AgentVersion  string    `db:"agent_version" json:"agent_version"`
	ResticVersion string    `db:"restic_version" json:"restic_version"`
	Fingerprint   string    `db:"fingerprint" json:"fingerprint"`
	SourceAddr    string    `db:"source_addr" json:"source_addr"`
	FirstSeen     time.Time `db:"first_seen" json:"first_seen"`
	LastSeen      time.Time `db:"last_seen" json:"last_seen"`
	ExpiresAt     time.Time `db:"expires_at" json:"expires_at"`
	State         string    `db:"state" json:"-"` // the API lists only pending ones
	// NameConflict: an existing host already has this hostname as its name
	// or hostname (compared case-insensitively). It may be a machine that is
	// already enrolled, or a second machine with the same name.
	NameConflict bool `db:"name_conflict" json:"name_conflict"`
	// SameName and SameHostnameOf say what NameConflict matched, so a
	// person can tell a re-install from a namesake: the existing host named
	// like this machine's hostname, and the existing host whose OS hostname
	// it is ("" when nothing matched that way).
	SameName       string `db:"same_name" json:"same_name,omitempty"`
	SameHostnameOf string `db:"same_hostname_of" json:"same_hostname_of,omitempty"`
}

// pendingRow is a whole pending_hosts row: what admins see plus the keys and
// the sealed credentials.
type pendingRow struct {
	PendingHost
	IdentityKey []byte  `db:"identity_key"`
	SealKey     []byte  `db:"seal_key"`
	HostID      *string `db:"host_id"`
	Sealed      []byte  `db:"sealed"`
}

const pendingColumns = `id, client_id, hostname, os, arch, agent_version, restic_version, fingerprint, source_addr,
	first_seen, last_seen, expires_at, state`

const pendingRowColumns = pendingColumns + `, identity_key, seal_key, host_id, sealed`

// ListPendingHosts returns the machines waiting for an admin, longest
// waiting first (new ones join at the bottom, so the list does not jump).
// Accepted, rejected and expired rows are not listed.
func (s *Service) ListPendingHosts(ctx context.Context) ([]PendingHost, error) {
	out := []PendingHost{}
	err := s.db.SelectContext(ctx, &out, `SELECT `+pendingColumns+`,
		EXISTS (SELECT 1 FROM hosts h WHERE lower(h.name) = lower(p.hostname)
			OR (h.revoked_at IS NULL AND lower(h.hostname) = lower(p.hostname))) AS name_conflict,
		COALESCE((SELECT h.name FROM hosts h WHERE lower(h.name) = lower(p.hostname) LIMIT 1), '') AS same_name,
		COALESCE((SELECT h.name FROM hosts h WHERE h.revoked_at IS NULL AND lower(h.hostname) = lower(p.hostname)
			ORDER BY h.name LIMIT 1), '') AS same_hostname_of
		FROM pending_hosts p WHERE state = ? AND expires_at > ? ORDER BY first_seen, id`, PendingStatePending, s.now())
	if err != nil {
		return nil, internal("Could not list pending hosts", err)
	}
	return out, nil
}

// loadPending reads a row an admin can still decide on.
func loadPending(ctx context.Context, tx *sqlx.Tx, id int64, now time.Time) (*pendingRow, error) {
	var row pendingRow
	err := tx.GetContext(ctx, &row, `SELECT `+pendingRowColumns+` FROM pending_hosts WHERE id = ?`, id)
	switch {
	case isNoRows(err) || (err == nil && !now.Before(row.ExpiresAt)):
		return nil, notFoundf("No machine with ID %d is waiting; it may have expired. Reload the page.", id)
	case err != nil:
		return nil, err
	case row.State == PendingStateApproved:
		return nil, conflictf("Machine %d was already accepted; it is in the host list.", id)
	case row.State == PendingStateRejected:
		return nil, conflictf("Machine %d was already rejected.", id)
	}
	return &row, nil
}

// AcceptPendingHost turns a waiting machine into a host called name: it
// creates the host and its MQTT secret (stored only as a hash), seals the
// credentials to the machine's key, keeps the sealed bytes until the agent
// has connected as the host, and sends them to the agent if it is listening.
// With repo, the host's repository is set in the same transaction (its
// config and init job reach the agent after its first hello as the host);
// a bad repository refuses the whole accept. It returns the new host's ID.
func (s *Service) AcceptPendingHost(ctx context.Context, a Actor, id int64, name string, repo *RepositoryInput) (string, error) {
	if err := a.require(PermConfigure); err != nil {
		return "", err
	}
	if err := ValidateHostName(name); err != nil {
		return "", err
	}
	var repoCfg topics.RepositoryConfig
	if repo != nil {
		var err error
		if repoCfg, err = repositoryInput(*repo); err != nil {
			return "", err
		}
	}
	now := s.now()
	var row *pendingRow
	var hostID string
	var sealed []byte
	var initJob int64
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if row, err = loadPending(ctx, tx, id, now); err != nil {
			return err
		}
		var secret string
		hostID, secret, err = s.createHost(ctx, tx, newHost{Name: name, Hostname: row.Hostname, OS: row.OS, Arch: row.Arch,
			AgentVersion: row.AgentVersion, ResticVersion: row.ResticVersion, RemoteAddr: row.SourceAddr, CreatedAt: now})
		if errors.Is(err, errHostNameTaken) {
			return conflictf("A host named %q already exists; pick another name.", name)
		} else if err != nil {
			return err
		}
		if sealed, err = s.sealCredentials(row.SealKey, hostID, name, secret); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE pending_hosts SET state = ?, host_id = ?, sealed = ?, expires_at = ? WHERE id = ?`,
			PendingStateApproved, hostID, sealed, now.Add(s.ann.opts.TTL), id); err != nil {
			return err
		}
		details := map[string]any{"pending_id": id, "host_id": hostID,
			"client_id": row.ClientID, "fingerprint": row.Fingerprint, "hostname": row.Hostname, "source_addr": row.SourceAddr}
		if repo != nil {
			var version int64
			if initJob, version, err = s.storeRepository(ctx, tx, hostID, repoCfg, a.Name); err != nil {
				return err
			}
			details["repository"] = repositoryAudit(hostID, repoCfg, version, initJob)
		}
		return s.audit(ctx, tx, a, "pending_host.accept", name, details)
	})
	if err != nil {
		if ErrorCodeOf(err) == CodeInternal {
			return "", internal("Could not accept the machine", err)
		}
		return "", err
	}
	s.ann.await(hostID)
	s.log.Info("pending host accepted", "host", hostID, "name", name, "client", row.ClientID, "by", a.Name)
	s.events.Publish(Event{Kind: EventHostCreated, HostID: hostID})
	s.events.Publish(Event{Kind: EventPendingChanged})
	if initJob != 0 {
		s.events.Publish(Event{Kind: EventRepositoryChanged, HostID: hostID})
		s.events.Publish(Event{Kind: EventJobUpdated, HostID: hostID, JobID: initJob})
	}
	s.sendAnnounce(row.ClientID, announceStatus(topics.AnnounceApproved, row.Fingerprint, "Accepted as host "+name+".", sealed))
	// The host's own client replaces the pending one (provisioned in the
	// transaction, createHost). An agent cut off before it read the
	// approval bootstraps again and fetches it (fleet_announce_bootstrap.go).
	s.dropPendingClients(row.ClientID)
	return hostID, nil
}

// RejectPendingHost turns a waiting machine away. It disappears from the
// list, is told so if it is listening, and further announces with the same
// key are rejected until the row expires.
func (s *Service) RejectPendingHost(ctx context.Context, a Actor, id int64) error {
	if err := a.require(PermConfigure); err != nil {
		return err
	}
	now := s.now()
	var row *pendingRow
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if row, err = loadPending(ctx, tx, id, now); err != nil {
			return err
		}
		if err := s.markRejected(ctx, tx, []int64{id}, now); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "pending_host.reject", row.Hostname, map[string]any{"pending_id": id,
			"client_id": row.ClientID, "fingerprint": row.Fingerprint, "source_addr": row.SourceAddr})
	})
	if err != nil {
		if ErrorCodeOf(err) == CodeInternal {
			return internal("Could not reject the machine", err)
		}
		return err
	}
	s.log.Info("pending host rejected", "client", row.ClientID, "hostname", row.Hostname, "by", a.Name)
	s.tellRejected(row.PendingHost)
	return nil
}

// MaxBulkReject bounds the IDs one RejectPendingHosts call may name: more
// than the queue can ever hold.
const MaxBulkReject = 1000

// RejectPendingHosts turns many waiting machines away at once: those with
// the given IDs and those that announced from sourceAddr (either may be
// empty, not both). Named machines that no longer wait are skipped. It
// returns the IDs it rejected, and writes one audit row that lists them.
// Each rejected machine is told and its key refused like RejectPendingHost's.
func (s *Service) RejectPendingHosts(ctx context.Context, a Actor, ids []int64, sourceAddr string) ([]int64, error) {
	if err := a.require(PermConfigure); err != nil {
		return nil, err
	}
	switch {
	case len(ids) == 0 && sourceAddr == "":
		return nil, invalidf("Name the machines to reject: tick them, or give their IDs or the address they announced from.")
	case len(ids) > MaxBulkReject:
		return nil, invalidf("Reject at most %d machines at once; fewer than that can wait.", MaxBulkReject)
	case len(sourceAddr) > 100:
		return nil, invalidf("That source address is too long to be one; copy it from the pending list.")
	}
	now := s.now()
	var rows []PendingHost
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		q, args, err := sqlx.In(`SELECT `+pendingColumns+` FROM pending_hosts WHERE state = ? AND expires_at > ?
			AND (id IN (?) OR source_addr = ?) ORDER BY first_seen, id`, PendingStatePending, now, append([]int64{0}, ids...), sourceAddr)
		if err != nil {
			return err
		}
		if err := tx.SelectContext(ctx, &rows, tx.Rebind(q), args...); err != nil {
			return err
		}
		if len(rows) == 0 {
			return notFoundf("None of those machines is waiting any more; reload the list.")
		}
		rejected := make([]int64, len(rows))
		for i, r := range rows {
			rejected[i] = r.ID
		}
		if err := s.markRejected(ctx, tx, rejected, now); err != nil {
			return err
		}
		details := map[string]any{"count": len(rejected), "pending_ids": rejected}
		if sourceAddr != "" {
			details["source_addr"] = sourceAddr
		}
		target := fmt.Sprintf("%d machines", len(rejected))
		if len(rejected) == 1 {
			target = rows[0].Hostname
		}
		return s.audit(ctx, tx, a, "pending_host.reject_many", target, details)
	})
	if err != nil {
		if ErrorCodeOf(err) == CodeInternal {
			return nil, internal("Could not reject the machines", err)
		}
		return nil, err
	}
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	s.log.Info("pending hosts rejected", "count", len(rows), "source_addr", sourceAddr, "by", a.Name)
	s.tellRejected(rows...)
	return out, nil
}

// markRejected turns the waiting rows ids into rejections that keep their
// keys out for the TTL.
func (s *Service) markRejected(ctx context.Context, tx *sqlx.Tx, ids []int64, now time.Time) error {
	q, args, err := sqlx.In(`UPDATE pending_hosts SET state = ?, expires_at = ? WHERE id IN (?)`,
		PendingStateRejected, now.Add(s.ann.opts.TTL), ids)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, tx.Rebind(q), args...)
	return err
}

// tellRejected announces a committed rejection: the pending list changed,
// and each machine, if it is listening, is told.
func (s *Service) tellRejected(rows ...PendingHost) {
	s.events.Publish(Event{Kind: EventPendingChanged})
	ids := make([]string, len(rows))
	for i, r := range rows {
		s.sendAnnounce(r.ClientID, announceStatus(topics.AnnounceRejected, r.Fingerprint, msgRejected, nil))
		ids[i] = r.ClientID
	}
	s.dropPendingClients(ids...)
}
