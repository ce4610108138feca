// Package migrations holds the schema as numbered SQL files
// (NNNN_name.sql), embedded into the binary: SQLite's in this directory,
// PostgreSQL's twins, with the same numbers and names, in postgres/. The
// server applies the ones of its store's engine in order, each in its own
// transaction, and records each in schema_migrations. A migration is added
// in both dialects at once; a test holds the two schemas equal (same
// tables, columns and index names).
//
// A migration, once released, is never edited: add a new file instead.
package migrations

import "embed"

// FS contains every NNNN_name.sql file of this directory (SQLite).
//
//go:embed *.sql
var FS embed.FS

// Postgres contains postgres/NNNN_name.sql, the PostgreSQL twins.
//
//go:embed postgres/*.sql
var Postgres embed.FS
