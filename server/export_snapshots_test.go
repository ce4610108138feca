package server

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// StoreSnapshotReport stores m for host as the ingest writer does, in a
// transaction of its own on the writer (no queue, no batch, no ack): what a
// snapshot report costs the writer.
func (s *Service) StoreSnapshotReport(ctx context.Context, host string, m *topics.SnapshotReport) error {
	return s.db.inTurnTx(ctx, func(tx *sqlx.Tx) error {
		w := &batchWriter{s: s, tx: tx, now: s.now(), jobs: make(map[string]*ingestJob)}
		defer w.close()
		o, err := w.applySnapshots(ctx, host, m)
		if err == nil && o.verdict != verdictStored {
			err = fmt.Errorf("snapshot report not stored: verdict %d %s", o.verdict, o.why)
		}
		return err
	})
}
