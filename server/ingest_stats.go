package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Repository statistics over time (#13). A stats job's result carries
// what `restic stats --mode raw-data` measured (topics.RepoStats); the
// writer stores it in repository_stats in the transaction that stores the
// job's end, one row per host per UTC day (a later run that day replaces
// it), and drops the host's rows older than StatsRetention. The figures
// per backup (data added, duration, status, restore size) are not copied:
// they are the backup jobs' own results, read from jobs.

// StatsRetention is how long repository_stats rows are kept.
const StatsRetention = 2 * 365 * 24 * time.Hour

// MaxStatsDays bounds HostStats' window.
const MaxStatsDays = 730

// storeRepoStats records a stats job's figures for its host.
func storeRepoStats(ctx context.Context, tx *sqlx.Tx, hostID string, jobID int64, at time.Time, st *topics.RepoStats) error {
	at = at.UTC()
	var uncompressed *int64
	if st.UncompressedSize != nil {
		u := int64(*st.UncompressedSize)
		uncompressed = &u
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO repository_stats (host_id, day, at, total_size, total_uncompressed_size, blobs, snapshots, job_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (host_id, day) DO UPDATE SET at = excluded.at, total_size = excluded.total_size,
			total_uncompressed_size = excluded.total_uncompressed_size, blobs = excluded.blobs,
			snapshots = excluded.snapshots, job_id = excluded.job_id
		WHERE excluded.at >= repository_stats.at`,
		hostID, at.Format(time.DateOnly), at, int64(st.TotalSize), uncompressed, int64(st.Blobs), int64(st.Snapshots), jobID); err != nil {
		return fmt.Errorf("store repository stats: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM repository_stats WHERE host_id = ? AND at < ?`, hostID, at.Add(-StatsRetention)); err != nil {
		return fmt.Errorf("drop old repository stats: %w", err)
	}
	return nil
}

// statsEnded stores the figures of a stats job that ended with them.
func statsEnded(ctx context.Context, tx *sqlx.Tx, j *ingestJob, st topics.JobState, r *topics.JobResult, at time.Time) error {
	if j.Kind != string(topics.JobStats) || r == nil || r.Stats == nil || (st != topics.JobSucceeded && st != topics.JobWarning) {
		return nil
	}
	return storeRepoStats(ctx, tx, j.HostID, j.ID, at, r.Stats)
}

// RepoSize is one repository_stats row.
type RepoSize struct {
	At                    time.Time `json:"at" db:"at"`
	TotalSize             int64     `json:"total_size" db:"total_size"`
	TotalUncompressedSize *int64    `json:"total_uncompressed_size" db:"total_uncompressed_size"`
	Blobs                 int64     `json:"blobs" db:"blobs"`
	Snapshots             int64     `json:"snapshots" db:"snapshots"`
}

// BackupPoint is one backup job that ended, as the charts show it.
type BackupPoint struct {
	JobID           int64   `json:"job_id"`
	At              string  `json:"at"` // RFC 3339, when it ended
	Status          string  `json:"status"`
	DurationSeconds float64 `json:"duration_seconds"`
	DataAdded       uint64  `json:"data_added"`
	// RestoreSize is what restoring the snapshot would write (restic's
	// total_bytes_processed).
	RestoreSize uint64 `json:"restore_size"`
	SnapshotID  string `json:"snapshot_id"`
}

// StripDay is one UTC day of the success/failure strip: how many backups
// ended each way.
type StripDay struct {
	Day       string `json:"day"`
	Succeeded int    `json:"succeeded"`
	Warning   int    `json:"warning"`
	Failed    int    `json:"failed"`
}

// HostStats is a host's charts: the repository's size over time, every
// backup that ended, and one strip day per day of the window (oldest
// first, today last).
type HostStats struct {
	HostID     string        `json:"host_id"`
	Days       int           `json:"days"`
	Repository []RepoSize    `json:"repository"`
	Backups    []BackupPoint `json:"backups"`
	Strip      []StripDay    `json:"strip"`
}

// HostStats reads a host's charts for the last days days (1..MaxStatsDays).
func (s *Service) HostStats(ctx context.Context, hostID string, days int) (*HostStats, error) {
	if days < 1 || days > MaxStatsDays {
		return nil, invalidf("days must be between 1 and %d.", MaxStatsDays)
	}
	if _, err := s.GetHost(ctx, hostID); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	since := today.AddDate(0, 0, 1-days)
	out := &HostStats{HostID: hostID, Days: days, Repository: []RepoSize{}, Backups: []BackupPoint{}}
	if err := s.db.SelectContext(ctx, &out.Repository, `SELECT at, total_size, total_uncompressed_size, blobs, snapshots
		FROM repository_stats WHERE host_id = ? AND at >= ? ORDER BY at`, hostID, since); err != nil {
		return nil, internal("Could not load the repository statistics", err)
	}
	for i := range out.Repository {
		out.Repository[i].At = out.Repository[i].At.UTC()
	}
	var rows []struct {
		ID         int64     `db:"id"`
		Status     string    `db:"status"`
		FinishedAt time.Time `db:"finished_at"`
		SnapshotID string    `db:"snapshot_id"`
		Result     *string   `db:"result"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT id, status, finished_at, snapshot_id, result FROM jobs
		WHERE host_id = ? AND kind = 'backup' AND finished_at >= ? AND status IN ('succeeded', 'warning', 'failed', 'interrupted')
		ORDER BY finished_at, id`, hostID, since); err != nil {
		return nil, internal("Could not load the backups", err)
	}
	strip := make(map[string]*StripDay, days)
	for d := range days {
		day := since.AddDate(0, 0, d).Format(time.DateOnly)
		out.Strip = append(out.Strip, StripDay{Day: day})
	}
	for i := range out.Strip {
		strip[out.Strip[i].Day] = &out.Strip[i]
	}
	for _, r := range rows {
		p := BackupPoint{JobID: r.ID, At: r.FinishedAt.UTC().Format(time.RFC3339), Status: r.Status, SnapshotID: r.SnapshotID}
		var res topics.JobResult
		if r.Result != nil && json.Unmarshal([]byte(*r.Result), &res) == nil {
			p.DurationSeconds = float64(res.DurationMS) / 1000
			if b := res.Backup; b != nil {
				p.DataAdded, p.RestoreSize = b.DataAdded, b.TotalBytesProcessed
			}
		}
		out.Backups = append(out.Backups, p)
		if d := strip[r.FinishedAt.UTC().Format(time.DateOnly)]; d != nil {
			switch topics.JobState(r.Status) {
			case topics.JobSucceeded:
				d.Succeeded++
			case topics.JobWarning:
				d.Warning++
			default:
				d.Failed++
			}
		}
	}
	return out, nil
}
