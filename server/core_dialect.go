package server

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Dialect is the SQL engine under the store: SQLite (the default, a file in
// the data directory) or PostgreSQL (serve --db postgres://…). The queries
// of the seams are written once, in the dialect both engines share (ON
// CONFLICT … DO UPDATE, RETURNING, ? placeholders, which the PostgreSQL
// connections rebind to $n: core_db_postgres.go); the few places where the
// engines differ are the functions of this file, and nowhere else.
type Dialect int

const (
	// SQLite is modernc.org/sqlite on a file.
	SQLite Dialect = iota
	// Postgres is PostgreSQL through pgx's database/sql driver.
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// DatabaseEnv is the environment variable naming the store for serve
// (when --db is not given) and the admin subcommands: a postgres:// URL.
const DatabaseEnv = "RM_DB"

// StoreDialect tells which engine a store URL names: postgres:// and
// postgresql:// are PostgreSQL, anything else (a path, or sqlite:path) is
// a SQLite file.
func StoreDialect(dsn string) Dialect {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return Postgres
	}
	return SQLite
}

// RedactStoreURL is dsn fit for a log line or an error: a PostgreSQL URL
// loses its password (and any password=… parameter); a SQLite path is
// returned as it is.
func RedactStoreURL(dsn string) string {
	if StoreDialect(dsn) != Postgres {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// Never echo what could not be parsed: it may hold the password.
		return "postgres://(unparsable URL)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// likeOp is the operator of a case-insensitive LIKE: SQLite's LIKE already
// ignores ASCII case, PostgreSQL's does not.
func (d Dialect) likeOp() string {
	if d == Postgres {
		return "ILIKE"
	}
	return "LIKE"
}

// jsonFlag is an SQL expression that is 1 when the JSON object in column
// col has key set to true (or 1), else 0 (absent, null, false).
func (d Dialect) jsonFlag(col, key string) string {
	if d == Postgres {
		return fmt.Sprintf(`(CASE WHEN (%s)::jsonb->>'%s' IN ('true', '1') THEN 1 ELSE 0 END)`, col, key)
	}
	return fmt.Sprintf(`COALESCE(json_extract(%s, '$.%s'), 0)`, col, key)
}

// nocase is column col as it sorts and compares ignoring (ASCII) case:
// SQLite's NOCASE collation, which its indexes declare; lower() on
// PostgreSQL, whose twin indexes are on lower(col).
func (d Dialect) nocase(col string) string {
	if d == Postgres {
		return `lower(` + col + `)`
	}
	return col + ` COLLATE NOCASE`
}

// nocaseEq is "col equals the next ? argument, ignoring case".
func (d Dialect) nocaseEq(col string) string {
	if d == Postgres {
		return `lower(` + col + `) = lower(?)`
	}
	return col + ` = ? COLLATE NOCASE`
}

// emptyBlob is the literal of an empty BLOB (bytea).
func (d Dialect) emptyBlob() string {
	if d == Postgres {
		return `'\x'::bytea`
	}
	return `x''`
}

// blobText is the text held in BLOB (bytea) column col.
func (d Dialect) blobText(col string) string {
	if d == Postgres {
		return `convert_from(` + col + `, 'UTF8')`
	}
	return `CAST(` + col + ` AS TEXT)`
}

// blobInt is the integer held in a settings value (column col): SQLite
// stores a counter there as an INTEGER and casts it, PostgreSQL's bytea
// holds the number's decimal text.
func (d Dialect) blobInt(col string) string {
	if d == Postgres {
		return fmt.Sprintf(`convert_from(%s, 'UTF8')::bigint`, col)
	}
	return fmt.Sprintf(`CAST(%s AS INTEGER)`, col)
}

// intBlob is the settings value holding the integer expression expr
// (blobInt's inverse).
func (d Dialect) intBlob(expr string) string {
	if d == Postgres {
		return fmt.Sprintf(`convert_to((%s)::text, 'UTF8')`, expr)
	}
	return expr
}

// dialectOf is the dialect of a store or a transaction of one (sqlx
// remembers the driver's name on both).
func dialectOf(ex any) Dialect {
	if n, ok := ex.(interface{ DriverName() string }); ok && n.DriverName() == pgxDriverName {
		return Postgres
	}
	return SQLite
}

// isUniqueViolation reports a UNIQUE (or primary key) constraint failure:
// modernc's SQLite says so in the message, PostgreSQL with SQLSTATE 23505.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}
