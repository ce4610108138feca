package server_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// storedHash is the password hash the store keeps for name.
func storedHash(t *testing.T, s *server.Service, name string) string {
	t.Helper()
	var h string
	if err := s.DB().Get(&h, `SELECT password_hash FROM users WHERE name = ?`, name); err != nil {
		t.Fatal(err)
	}
	return h
}

// A Service opened as production opens it (zero Options) hashes at the
// production cost, 64 MiB, 3 passes, 2 lanes, whatever the test fixtures use.
func TestPasswordHashCostIsProductionByDefault(t *testing.T) {
	var logs bytes.Buffer
	s, err := server.Open(t.TempDir(), slog.New(slog.NewTextHandler(&logs, nil)), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	servertest.MustCreateUser(t, s, "alice", server.RoleViewer)
	if h := storedHash(t, s, "alice"); !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("hash %q, want argon2id at m=65536,t=3,p=2", h)
	}
	if d := server.DefaultPasswordHashCost(); d != (server.PasswordHashCost{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}) {
		t.Fatalf("default cost %+v", d)
	}
	if strings.Contains(logs.String(), "cheaper") {
		t.Fatalf("the default cost was reported as lowered:\n%s", logs.String())
	}
}

// The fixtures' cheap cost is recorded in each hash, signs in, refuses a
// wrong password, verifies anywhere (the cost travels with the hash), and a
// Service built with it says so in its log.
func TestPasswordHashCostCheapForFixtures(t *testing.T) {
	var logs bytes.Buffer
	s, err := server.Open(t.TempDir(), slog.New(slog.NewTextHandler(&logs, nil)),
		server.Options{PasswordHashCost: servertest.CheapPasswordHash()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if !strings.Contains(logs.String(), "password hashes are cheaper than the default") {
		t.Fatalf("no warning for a lowered cost in the log:\n%s", logs.String())
	}
	servertest.MustCreateUser(t, s, "bob", server.RoleViewer)
	h := storedHash(t, s, "bob")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q, want argon2id at m=64,t=1,p=1", h)
	}
	if ok, err := server.VerifyPassword(servertest.Password, h); !ok || err != nil {
		t.Fatalf("the right password does not verify: %v %v", ok, err)
	}
	if ok, _ := server.VerifyPassword(servertest.Password+"!", h); ok {
		t.Fatal("a wrong password verified")
	}
	if _, err := s.Login(t.Context(), "bob", servertest.Password, "127.0.0.1"); err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	if _, err := s.Login(t.Context(), "nobody", servertest.Password, "127.0.0.1"); server.ErrorCodeOf(err) != server.CodeUnauthorized {
		t.Fatalf("unknown name: %v, want wrong name or password", err)
	}
}

// Only test code may lower the cost: no production file of the module (one
// that is not a _test.go file and not in a ...test package) sets
// PasswordHashCost, so no flag, setting or environment variable can.
func TestPasswordHashCostIsSetByTestCodeOnly(t *testing.T) {
	fset := token.NewFileSet()
	var setters []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n != ".." && (strings.HasPrefix(n, ".") || n == "node_modules" || n == "testdata" || strings.HasSuffix(n, "test")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var key ast.Expr
			switch n := n.(type) {
			case *ast.KeyValueExpr: // Options{PasswordHashCost: ...}
				key = n.Key
			case *ast.AssignStmt: // opts.PasswordHashCost = ...
				for _, l := range n.Lhs {
					if sel, ok := l.(*ast.SelectorExpr); ok && sel.Sel.Name == "PasswordHashCost" {
						key = sel.Sel
					}
				}
			}
			if id, ok := key.(*ast.Ident); ok && id.Name == "PasswordHashCost" {
				setters = append(setters, fset.Position(n.Pos()).String())
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(setters) > 0 {
		t.Errorf("production code sets the password hash cost at %v; only test fixtures may", setters)
	}
}
