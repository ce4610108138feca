package server

import (
	"context"
	"fmt"
	"strings"
)

// OpenStoreAt opens the store dsn names (a SQLite file path or a
// PostgreSQL URL) migrated up to and including the migration named upTo.
func OpenStoreAt(ctx context.Context, dsn, upTo string) (*DB, error) {
	var db *DB
	var err error
	if StoreDialect(dsn) == SQLite {
		db, err = openPools(strings.TrimPrefix(dsn, "sqlite:"))
	} else {
		db, err = openPostgres(ctx, dsn)
	}
	if err != nil {
		return nil, err
	}
	ms, err := loadMigrations(db.dialect)
	if err != nil {
		db.Close()
		return nil, err
	}
	for i, m := range ms {
		if m.name == upTo {
			if err := db.migrateTo(ctx, ms[:i+1]); err != nil {
				db.Close()
				return nil, err
			}
			return db, nil
		}
	}
	db.Close()
	return nil, fmt.Errorf("no migration %s", upTo)
}

// Migrate applies the store's pending migrations.
func (db *DB) Migrate(ctx context.Context) error { return db.migrate(ctx) }

// ReadJobLog is Service.JobLog on a bare store.
func ReadJobLog(ctx context.Context, db *DB, id int64, after uint64, limit int) ([]LogLine, error) {
	return (&Service{db: db}).JobLog(ctx, id, after, limit)
}
