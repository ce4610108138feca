package server

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
)

// pgxDriverName is the driver name sqlx knows a PostgreSQL store by: its
// bind type for "pgx" is $n, so NamedExec and Rebind produce PostgreSQL's
// placeholders.
const pgxDriverName = "pgx"

// PostgresConns is the size of each of a PostgreSQL store's two pools. A
// server holds at most twice this many connections; PostgreSQL's default
// max_connections (100) leaves room for a few servers and psql.
const PostgresConns = 16

// writeLockKey is the advisory lock every write transaction takes first
// (docs/DECISIONS.md, "#15: PostgreSQL"): the seams check, then write, in
// one transaction, relying on write transactions running one at a time,
// as SQLite's BEGIN IMMEDIATE makes them. The number is arbitrary; it only
// has to be the same in every server sharing the database.
const writeLockKey = 0x726d5f7772697465 // "rm_write"

// openPostgres opens a PostgreSQL store, without migrating it: a read pool
// and a write pool of PostgresConns connections each, through pgx's
// database/sql driver with ? placeholders rebound to $n. Two pools, as on
// SQLite, so that a transaction waiting for the write lock never holds the
// connection a read needs.
func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors quote the URL, password included: say what is
		// wrong without it.
		return nil, fmt.Errorf("store: %s is not a PostgreSQL URL pgx can use (postgres://user:password@host:port/database?sslmode=…)", RedactStoreURL(dsn))
	}
	open := func() *sqlx.DB {
		db := sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg, stdlib.OptionAfterConnect(boolsAsIntegers))})
		db.SetMaxOpenConns(PostgresConns)
		db.SetMaxIdleConns(PostgresConns)
		return sqlx.NewDb(db, pgxDriverName)
	}
	r, w := open(), open()
	if err := w.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", RedactStoreURL(dsn), redactErr(err, cfg.Password))
	}
	return &DB{DB: r, w: w, path: RedactStoreURL(dsn), dialect: Postgres, stmts: make(map[string]*sqlx.Stmt), pg: cfg}, nil
}

// redactErr is err with password replaced wherever it appears in the
// message (pgx's connect errors may quote the connection string).
func redactErr(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), password, "xxxxx"))
}

// rebindConnector wraps pgx's connector so that every statement written
// with SQLite's ? placeholders reaches PostgreSQL with $1, $2, ….
type rebindConnector struct{ driver.Connector }

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &rebindConn{conn.(*stdlib.Conn)}, nil
}

// rebindConn is a pgx connection whose statements are rebound.
type rebindConn struct{ *stdlib.Conn }

func (c *rebindConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(rebind(query))
}

func (c *rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c *rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) > 0 {
		query = rebind(query)
	}
	return c.Conn.ExecContext(ctx, query, args)
}

func (c *rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) > 0 {
		query = rebind(query)
	}
	return c.Conn.QueryContext(ctx, query, args)
}

// boolsAsIntegers lets a connection store a Go bool in an integer column
// as 0 or 1: both schemas keep flags in integer columns, which SQLite's
// driver fills so. A bool parameter PostgreSQL types as boolean (in
// "(col IS NULL) = ?") stays a boolean: pgx tries the wrapper only where
// it has no plan of its own.
func boolsAsIntegers(_ context.Context, conn *pgx.Conn) error {
	m := conn.TypeMap()
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrapBoolAsInt}, m.TryWrapEncodePlanFuncs...)
	return nil
}

func tryWrapBoolAsInt(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	if b, ok := value.(bool); ok {
		return &boolAsIntPlan{}, boolAsInt(b), true
	}
	return nil, nil, false
}

// boolAsInt is a bool that pgx encodes as an integer.
type boolAsInt bool

func (b boolAsInt) Int64Value() (pgtype.Int8, error) {
	n := int64(0)
	if b {
		n = 1
	}
	return pgtype.Int8{Int64: n, Valid: true}, nil
}

type boolAsIntPlan struct{ next pgtype.EncodePlan }

func (p *boolAsIntPlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *boolAsIntPlan) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode(boolAsInt(value.(bool)), buf)
}

// rebind replaces each ? placeholder of query with $1, $2, … in order,
// leaving string literals, quoted identifiers and comments alone.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			end := strings.IndexByte(query[i+1:], c)
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+2])
			i += end + 1
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+1])
			i += end
		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+4])
			i += end + 3
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
