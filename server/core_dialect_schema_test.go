package server_test

import (
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// schema is what the two dialects' migrations must agree on: every table
// with its columns, and every index name (with its table), sorted.
type schema struct {
	Columns map[string][]string // table -> column names
	Indexes []string            // "table.index"
}

// TestMigrationsAgreeAcrossDialects migrates a SQLite file and a PostgreSQL
// database from nothing and compares their schemas: the same tables, the
// same columns and the same index names, so that the twins in
// migrations/postgres cannot drift from migrations/*.sql. Indexes SQLite
// makes for itself (sqlite_autoindex_*, for UNIQUE and primary keys) and
// PostgreSQL's primary-key and UNIQUE-constraint indexes are left out: the
// constraints are the columns' business.
func TestMigrationsAgreeAcrossDialects(t *testing.T) {
	lite, err := server.OpenDB(filepath.Join(t.TempDir(), "lite.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg, err := server.OpenStore(t.Context(), servertest.EmptyPostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()

	var want schema
	want.Columns = map[string][]string{}
	var liteCols []struct {
		Table  string `db:"tbl"`
		Column string `db:"col"`
	}
	if err := lite.Select(&liteCols, `SELECT m.name AS tbl, p.name AS col FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`); err != nil {
		t.Fatal(err)
	}
	for _, c := range liteCols {
		want.Columns[c.Table] = append(want.Columns[c.Table], c.Column)
	}
	if err := lite.Select(&want.Indexes, `SELECT tbl_name || '.' || name FROM sqlite_master
		WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%'`); err != nil {
		t.Fatal(err)
	}

	var got schema
	got.Columns = map[string][]string{}
	var pgCols []struct {
		Table  string `db:"tbl"`
		Column string `db:"col"`
	}
	if err := pg.Select(&pgCols, `SELECT table_name AS tbl, column_name AS col FROM information_schema.columns
		WHERE table_schema = current_schema()`); err != nil {
		t.Fatal(err)
	}
	for _, c := range pgCols {
		got.Columns[c.Table] = append(got.Columns[c.Table], c.Column)
	}
	if err := pg.Select(&got.Indexes, `SELECT i.tablename || '.' || i.indexname FROM pg_indexes i
		WHERE i.schemaname = current_schema()
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.contype IN ('p', 'u'))`); err != nil {
		t.Fatal(err)
	}

	for _, s := range []*schema{&want, &got} {
		for _, cols := range s.Columns {
			sort.Strings(cols)
		}
		sort.Strings(s.Indexes)
	}
	if len(want.Columns) < 20 || len(want.Indexes) < 20 {
		t.Fatalf("SQLite's schema looks empty: %d tables, %d indexes", len(want.Columns), len(want.Indexes))
	}
	for table, cols := range want.Columns {
		if !reflect.DeepEqual(got.Columns[table], cols) {
			t.Errorf("table %s: SQLite has columns\n  %s\nPostgreSQL has\n  %s", table,
				strings.Join(cols, " "), strings.Join(got.Columns[table], " "))
		}
	}
	for table := range got.Columns {
		if _, ok := want.Columns[table]; !ok {
			t.Errorf("table %s is only in PostgreSQL's schema", table)
		}
	}
	if !reflect.DeepEqual(got.Indexes, want.Indexes) {
		t.Errorf("indexes differ:\nSQLite:     %s\nPostgreSQL: %s", strings.Join(want.Indexes, " "), strings.Join(got.Indexes, " "))
	}
}
