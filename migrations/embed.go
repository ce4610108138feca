// Package migrations holds the SQLite schema as numbered SQL files
// (NNNN_name.sql), embedded into the binary. The server applies them in order,
// each in its own transaction, and records each in schema_migrations.
//
// A migration, once released, is never edited: add a new file instead.
package migrations

import "embed"

// FS contains every NNNN_name.sql file of this directory.
//
//go:embed *.sql
var FS embed.FS
