package server

import (
	"context"
	"encoding/json"
	"time"
)

// A host's snapshot list as the server keeps and shows it. The agent
// reports topics.SnapshotInfo (ingest_snapshots.go), stored as it came in
// snapshots.info; a Snapshot is that plus the short id restic shows, and
// it is also what the UI and the JSON API show (docs/DECISIONS.md,
// "Snapshots: three shapes").

// Snapshots returns the host's last reported snapshot list, newest first.
func (s *Service) Snapshots(ctx context.Context, hostID string) (*SnapshotList, error) {
	if _, err := s.GetHost(ctx, hostID); err != nil {
		return nil, err
	}
	list := &SnapshotList{HostID: hostID, Snapshots: []Snapshot{}}
	var taken []time.Time
	if err := s.db.SelectContext(ctx, &taken, `SELECT taken_at FROM snapshot_lists WHERE host_id = ?`, hostID); err != nil {
		return nil, internal("Could not load the snapshots", err)
	}
	if len(taken) == 0 {
		return list, nil
	}
	reported := taken[0].UTC()
	list.ReportedAt = &reported
	var infos []string
	if err := s.db.SelectContext(ctx, &infos, `SELECT info FROM snapshots WHERE host_id = ? ORDER BY time DESC, id`, hostID); err != nil {
		return nil, internal("Could not load the snapshots", err)
	}
	for _, info := range infos {
		if sn, ok := storedSnapshot(info); ok {
			list.Snapshots = append(list.Snapshots, sn)
		}
	}
	return list, nil
}

// storedSnapshot reads a snapshot row's info. Every field is there for
// the API's callers (a list is [], never null, also in rows an older
// agent reported without them), and the time is UTC.
func storedSnapshot(info string) (Snapshot, bool) {
	var sn Snapshot
	if json.Unmarshal([]byte(info), &sn.SnapshotInfo) != nil || sn.ID == "" {
		return sn, false
	}
	sn.ShortID = sn.ID[:min(8, len(sn.ID))]
	sn.Time = sn.Time.UTC()
	if sn.Paths == nil {
		sn.Paths = []string{}
	}
	if sn.Tags == nil {
		sn.Tags = []string{}
	}
	return sn, true
}
