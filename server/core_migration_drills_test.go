package server

import (
	"context"
	"path/filepath"
	"testing"
)

// TestMigrationDrillsKeepsSchedules: migration 0012 rebuilds the schedules
// table for the drill kind without losing what pointed at it: the rows,
// the jobs' schedule ids (dropping the old table nulls them on the way)
// and AUTOINCREMENT's high-water mark (a deleted schedule's id is never
// given again). Afterwards a drill schedule may name a group or none, and
// the old kinds keep their rules.
func TestMigrationDrillsKeepsSchedules(t *testing.T) {
	ms, err := loadMigrations(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	at := -1
	for i, m := range ms {
		if m.name == "0012_drills.sql" {
			at = i
		}
	}
	if at < 0 {
		t.Fatal("no migration 0012_drills.sql")
	}
	db := openUnmigrated(t, filepath.Join(t.TempDir(), "rm.db"))
	defer db.Close()
	ctx := context.Background()
	if err := db.migrateTo(ctx, ms[:at]); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO hosts (id, name, mqtt_secret_hash, created_at) VALUES ('h_1', 'office', x'00', CURRENT_TIMESTAMP)`,
		`INSERT INTO source_groups (id, host_id, name, paths, created_at, updated_at) VALUES (4, 'h_1', 'docs', '["/srv"]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
		`INSERT INTO schedules (id, host_id, kind, source_group_id, cron, created_at, updated_at) VALUES (1, 'h_1', 'backup', 4, '@daily', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
		`INSERT INTO schedules (id, host_id, kind, cron, read_data_subset, created_at, updated_at) VALUES (2, 'h_1', 'check', '@weekly', '5%', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
		`INSERT INTO schedules (id, host_id, kind, cron, created_at, updated_at) VALUES (7, 'h_1', 'prune', '@weekly', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
		`DELETE FROM schedules WHERE id = 7`,
		`INSERT INTO jobs (id, uid, host_id, kind, spec, status, command_id, expires_at, created_by, created_at, updated_at, schedule_id, scheduled_for)
			VALUES (10, 'j_a', 'h_1', 'backup', '{}', 'succeeded', 'c', CURRENT_TIMESTAMP, 'schedule', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1, CURRENT_TIMESTAMP)`,
		`INSERT INTO jobs (id, uid, host_id, kind, spec, status, command_id, expires_at, created_by, created_at, updated_at, schedule_id, scheduled_for)
			VALUES (11, 'j_b', 'h_1', 'check', '{}', 'failed', 'c', CURRENT_TIMESTAMP, 'schedule', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 2, CURRENT_TIMESTAMP)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.migrateTo(ctx, ms[:at+1]); err != nil {
		t.Fatalf("migration 0012: %v", err)
	}

	var kept []struct {
		ID       int64  `db:"id"`
		Kind     string `db:"kind"`
		Subset   string `db:"read_data_subset"`
		Schedule *int64 `db:"schedule_id"`
	}
	if err := db.Select(&kept, `SELECT s.id, s.kind, s.read_data_subset, j.schedule_id FROM schedules s
		LEFT JOIN jobs j ON j.schedule_id = s.id ORDER BY s.id`); err != nil {
		t.Fatal(err)
	}
	if len(kept) != 2 || kept[0].Kind != "backup" || kept[1].Subset != "5%" ||
		kept[0].Schedule == nil || *kept[0].Schedule != 1 || kept[1].Schedule == nil || *kept[1].Schedule != 2 {
		t.Fatalf("after the migration: %+v", kept)
	}
	res, err := db.Exec(`INSERT INTO schedules (host_id, kind, cron, drill_files, drill_max_mb, created_at, updated_at)
		VALUES ('h_1', 'drill', '@weekly', 5, 10, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`)
	if err != nil {
		t.Fatalf("a drill schedule: %v", err)
	}
	if next, _ := res.LastInsertId(); next != 8 {
		t.Fatalf("the new schedule got id %d; ids up to 7 were given before, so 8", next)
	}
	if _, err := db.Exec(`INSERT INTO schedules (host_id, kind, source_group_id, cron, created_at, updated_at)
		VALUES ('h_1', 'drill', 4, '@weekly', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`); err != nil {
		t.Fatalf("a drill schedule of a group: %v", err)
	}
	for _, bad := range []string{
		`INSERT INTO schedules (host_id, kind, source_group_id, cron, created_at, updated_at) VALUES ('h_1', 'prune', 4, '@weekly', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
		`INSERT INTO schedules (host_id, kind, cron, created_at, updated_at) VALUES ('h_1', 'backup', '@weekly', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
		`INSERT INTO schedules (host_id, kind, cron, drill_files, created_at, updated_at) VALUES ('h_1', 'check', '@weekly', 3, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
		`INSERT INTO schedules (host_id, kind, cron, created_at, updated_at) VALUES ('h_1', 'restore', '@weekly', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
	} {
		if _, err := db.Exec(bad); err == nil {
			t.Errorf("accepted: %s", bad)
		}
	}
	// The indexes are back.
	var n int
	if err := db.Get(&n, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN ('schedules_host', 'schedules_group')`); err != nil || n != 2 {
		t.Fatalf("schedule indexes: %d (%v)", n, err)
	}
}
