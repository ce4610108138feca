package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// DBFile is the database's file name in the data directory.
const DBFile = "restic-manager.db"

// Open opens the data directory dataDir as every entry point does (serve,
// the admin subcommands, tests): the directory is made private (0700), the
// database is opened, copied to dataDir/backups before a pending migration
// and migrated (OpenDB), and the master key is loaded or created
// (LoadOrCreateMasterKey). Close the Service to close the database.
//
// opts.Database names another store instead of the data directory's SQLite
// file: a postgres:// URL (OpenStore). The master key stays in dataDir.
func Open(dataDir string, logger *slog.Logger, opts Options) (*Service, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := privateDataDir(dataDir, logger); err != nil {
		return nil, err
	}
	dsn := opts.Database
	if dsn == "" {
		dsn = filepath.Join(dataDir, DBFile)
	}
	db, err := OpenStore(context.Background(), dsn)
	if err != nil {
		return nil, err
	}
	box, err := LoadOrCreateMasterKey(dataDir)
	if err != nil {
		db.Close()
		return nil, err
	}
	return NewService(db, box, logger, opts), nil
}

// privateDataDir creates the data directory as 0700, or tightens an existing
// one to 0700: it holds the master key and the database. When it cannot be
// tightened (another owner), the caller still goes on and the log says so.
func privateDataDir(dir string, logger *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			logger.Warn("the data directory is open to other users and could not be tightened to 0700; "+
				"run chmod 700 on it as its owner", "dir", dir, "mode", perm.String(), "err", err)
		}
	}
	return nil
}
