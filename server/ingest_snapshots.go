package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Snapshot reports (the agent's restic snapshots --json) replace a host's
// list as a whole. A long list comes in parts sharing a report id; parts
// wait in snapshot_report_parts until all are here. A report taken no later
// than the one applied is superseded (acked, dropped). Parts of one report
// must agree on the part count and taken_at.

// maxStagedParts bounds the parts one host may keep waiting.
const maxStagedParts = 2000

// stagedPartsTTL is how long an incomplete report's parts wait.
const stagedPartsTTL = 24 * time.Hour

// dropStaleReportParts deletes the parts of reports that stayed incomplete
// for stagedPartsTTL; the job sweep calls it in its transaction.
func dropStaleReportParts(ctx context.Context, tx *sqlx.Tx, now time.Time) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM snapshot_report_parts WHERE received_at < ?`, now.Add(-stagedPartsTTL))
	return err
}

// applySnapshots stores a part of a snapshot report and, when the report
// is complete, replaces the host's list with it.
func (w *batchWriter) applySnapshots(ctx context.Context, host string, m *topics.SnapshotReport) (itemOutcome, error) {
	takenAt := m.TakenAt.UTC()
	var applied []time.Time
	if err := w.tx.SelectContext(ctx, &applied, `SELECT taken_at FROM snapshot_lists WHERE host_id = ?`, host); err != nil {
		return itemOutcome{}, fmt.Errorf("load snapshot list: %w", err)
	}
	if len(applied) > 0 && !takenAt.After(applied[0]) {
		return itemOutcome{verdict: verdictDuplicate}, nil // superseded by the list applied
	}
	if m.Parts == 1 {
		return w.replaceSnapshots(ctx, host, m.Report, takenAt, m.Snapshots)
	}
	var staged []struct {
		Parts   int       `db:"parts"`
		TakenAt time.Time `db:"taken_at"`
	}
	if err := w.tx.SelectContext(ctx, &staged, `SELECT parts, taken_at FROM snapshot_report_parts
		WHERE host_id = ? AND report = ? LIMIT 1`, host, m.Report); err != nil {
		return itemOutcome{}, fmt.Errorf("load staged parts: %w", err)
	}
	if len(staged) > 0 && (staged[0].Parts != m.Parts || !staged[0].TakenAt.Equal(takenAt)) {
		return rejected("inconsistent snapshot report"), nil
	}
	var count int
	if err := w.tx.GetContext(ctx, &count, `SELECT COUNT(*) FROM snapshot_report_parts WHERE host_id = ?`, host); err != nil {
		return itemOutcome{}, fmt.Errorf("count staged parts: %w", err)
	}
	if count >= maxStagedParts {
		return rejected("too many snapshot report parts"), nil
	}
	list, err := json.Marshal(m.Snapshots)
	if err != nil {
		return itemOutcome{}, fmt.Errorf("encode snapshot part: %w", err)
	}
	res, err := w.tx.ExecContext(ctx, `INSERT INTO snapshot_report_parts (host_id, report, part, parts, taken_at, snapshots, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, host, m.Report, m.Part, m.Parts, takenAt, string(list), w.now)
	if err != nil {
		return itemOutcome{}, fmt.Errorf("stage snapshot part: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return itemOutcome{verdict: verdictDuplicate}, nil
	}
	var parts []string
	if err := w.tx.SelectContext(ctx, &parts, `SELECT snapshots FROM snapshot_report_parts WHERE host_id = ? AND report = ?
		ORDER BY part`, host, m.Report); err != nil {
		return itemOutcome{}, fmt.Errorf("load staged parts: %w", err)
	}
	if len(parts) < m.Parts {
		return itemOutcome{verdict: verdictStored}, nil
	}
	var all []topics.SnapshotInfo
	for _, p := range parts {
		var some []topics.SnapshotInfo
		if err := json.Unmarshal([]byte(p), &some); err != nil {
			return itemOutcome{}, fmt.Errorf("decode staged part: %w", err)
		}
		all = append(all, some...)
	}
	return w.replaceSnapshots(ctx, host, m.Report, takenAt, all)
}

// replaceSnapshots makes list the host's snapshot list and drops the staged
// parts it supersedes. It writes only what changed against the stored list:
// a report comes after every backup and names the host's whole list (often
// 50 snapshots or more) of which one is new, and deleting and inserting
// every row held the one writer for the lot. A row whose info is the same is
// left alone; a snapshot listed twice (in two parts) is kept once, as first
// listed.
func (w *batchWriter) replaceSnapshots(ctx context.Context, host, report string, takenAt time.Time,
	list []topics.SnapshotInfo) (itemOutcome, error) {
	var stored []struct {
		ID   string `db:"id"`
		Info string `db:"info"`
	}
	if err := w.tx.SelectContext(ctx, &stored, `SELECT id, info FROM snapshots WHERE host_id = ?`, host); err != nil {
		return itemOutcome{}, fmt.Errorf("load snapshots: %w", err)
	}
	have := make(map[string]string, len(stored))
	for _, r := range stored {
		have[r.ID] = r.Info
	}
	listed := make(map[string]bool, len(list))
	var changed []snapshotRow
	for i := range list {
		sn := &list[i]
		if listed[sn.ID] {
			continue
		}
		listed[sn.ID] = true
		info, err := json.Marshal(sn)
		if err != nil {
			return itemOutcome{}, fmt.Errorf("encode snapshot: %w", err)
		}
		if old, ok := have[sn.ID]; ok && old == string(info) {
			continue
		}
		changed = append(changed, snapshotRow{id: sn.ID, time: sn.Time.UTC(), info: string(info)})
	}
	var gone []string
	for _, r := range stored {
		if !listed[r.ID] {
			gone = append(gone, r.ID)
		}
	}
	if err := w.deleteSnapshots(ctx, host, gone); err != nil {
		return itemOutcome{}, err
	}
	if err := w.upsertSnapshots(ctx, host, changed); err != nil {
		return itemOutcome{}, err
	}
	if _, err := w.tx.ExecContext(ctx, `INSERT INTO snapshot_lists (host_id, report, taken_at, applied_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (host_id) DO UPDATE SET report = excluded.report, taken_at = excluded.taken_at,
		applied_at = excluded.applied_at`, host, report, takenAt, w.now); err != nil {
		return itemOutcome{}, fmt.Errorf("record snapshot list: %w", err)
	}
	if _, err := w.tx.ExecContext(ctx, `DELETE FROM snapshot_report_parts WHERE host_id = ? AND (report = ? OR taken_at <= ?)`,
		host, report, takenAt); err != nil {
		return itemOutcome{}, fmt.Errorf("drop staged parts: %w", err)
	}
	return itemOutcome{verdict: verdictStored, events: []Event{{Kind: EventSnapshotsChanged, HostID: host}}}, nil
}

// snapshotRow is a row of snapshots to write.
type snapshotRow struct {
	id   string
	time time.Time
	info string
}

// snapshotRowsPerStatement bounds the rows of one INSERT and the ids of one
// DELETE of replaceSnapshots: 4 arguments a row stays far under both
// engines' limits (SQLite 32,766 arguments, PostgreSQL 65,535).
const snapshotRowsPerStatement = 500

// deleteSnapshots deletes the host's snapshots ids.
func (w *batchWriter) deleteSnapshots(ctx context.Context, host string, ids []string) error {
	for len(ids) > 0 {
		n := min(len(ids), snapshotRowsPerStatement)
		in, args := idList(ids[:n])
		if _, err := w.tx.ExecContext(ctx, `DELETE FROM snapshots WHERE host_id = ? AND id IN (`+in+`)`,
			append([]any{host}, args...)...); err != nil {
			return fmt.Errorf("delete snapshots: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// upsertSnapshots inserts rows as the host's snapshots, replacing the time
// and info of those stored already.
func (w *batchWriter) upsertSnapshots(ctx context.Context, host string, rows []snapshotRow) error {
	for len(rows) > 0 {
		n := min(len(rows), snapshotRowsPerStatement)
		args := make([]any, 0, 4*n)
		for _, r := range rows[:n] {
			args = append(args, host, r.id, r.time, r.info)
		}
		values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?), ", n), ", ")
		if _, err := w.tx.ExecContext(ctx, `INSERT INTO snapshots (host_id, id, time, info) VALUES `+values+`
			ON CONFLICT (host_id, id) DO UPDATE SET time = excluded.time, info = excluded.info`, args...); err != nil {
			return fmt.Errorf("store snapshots: %w", err)
		}
		rows = rows[n:]
	}
	return nil
}
