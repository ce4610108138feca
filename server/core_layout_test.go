package server_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/agent/agenttest"
)

// module is the module path; every package below it is ours.
const module = "github.com/restic-manager/restic-manager"

// TestNoProductionPackageLinksTesting: the testing package must not link into
// a binary (its flags and its code would ship). Every package of the module
// that is not a test-support package (a name ending in "test", imported only
// by _test.go files) is built with its whole dependency graph, and nothing in
// it may import "testing".
func TestNoProductionPackageLinksTesting(t *testing.T) {
	goBin := agenttest.RequireBinary(t, "go")
	out, err := exec.Command(goBin, "list", "-f", "{{.ImportPath}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var production []string
	for _, p := range strings.Fields(string(out)) {
		if !strings.HasSuffix(path.Base(p), "test") {
			production = append(production, p)
		}
	}
	if len(production) == 0 {
		t.Fatal("go list found no production package")
	}
	args := append([]string{"list", "-deps", "-f", "{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}"}, production...)
	out, err = exec.Command(goBin, args...).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	var importers []string
	for line := range strings.Lines(string(out)) {
		pkg, imports, _ := strings.Cut(strings.TrimSpace(line), ":")
		if slices.Contains(strings.Fields(imports), "testing") {
			importers = append(importers, pkg)
		}
	}
	if len(importers) > 0 {
		t.Errorf("the testing package links into production code through %v; move test helpers into _test.go files or a ...test package (server/servertest)", importers)
	}
}

// seamLine is a seam's entry in doc.go's map: "//   - core_    the Service...".
var seamLine = regexp.MustCompile(`(?m)^//   - ([a-z]+_) `)

// seamPrefixes are the seams doc.go's map lists ("core_", "auth_", ...).
func seamPrefixes(t *testing.T, doc string) []string {
	t.Helper()
	var prefixes []string
	for _, m := range seamLine.FindAllStringSubmatch(doc, -1) {
		prefixes = append(prefixes, m[1])
	}
	if len(prefixes) < 7 {
		t.Fatalf("doc.go lists %d seams (%v); its map of seams is not in the expected form", len(prefixes), prefixes)
	}
	return prefixes
}

// seamOf is the seam a file of package server belongs to, or "".
func seamOf(name string, prefixes []string) string {
	for _, p := range prefixes {
		if strings.HasPrefix(name, p) || name == strings.TrimSuffix(p, "_")+".go" {
			return p
		}
	}
	return ""
}

// TestEveryServerFileBelongsToASeam keeps doc.go's map of seams honest: every
// non-test file of package server starts with a prefix the map lists, or is a
// seam's root file (jobs.go for jobs_) or doc.go itself.
func TestEveryServerFileBelongsToASeam(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	prefixes := seamPrefixes(t, string(doc))
	for _, name := range sourceFiles(t) {
		if name == "doc.go" || seamOf(name, prefixes) != "" {
			continue
		}
		t.Errorf("%s belongs to no seam: name it after the seam that owns its data (%s), or add a seam to doc.go's map and docs/architecture.md",
			name, strings.Join(prefixes, ", "))
	}
}

// sourceFiles are the names of package server's non-test files.
func sourceFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if name := e.Name(); !e.IsDir() && strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatal("no source file found in package server")
	}
	return names
}

// ownerLine is a line of doc.go's "Who writes which table": the seams, then
// the tables they write (table, or table.column for one column of a row
// another seam owns).
var ownerLine = regexp.MustCompile(`(?m)^//\t((?:[a-z]+_ )+)\s*(.+)$`)

// writeStmt finds a write in SQL text; the table after UPDATE is "SET" in an
// upsert's ON CONFLICT DO UPDATE SET, which the INSERT before it covers.
var (
	writeStmt = regexp.MustCompile(`\b(INSERT(?: OR [A-Z]+)? INTO|REPLACE INTO|DELETE FROM|UPDATE)\s+([a-z_]+)`)
	setClause = regexp.MustCompile(`(?s)^\s*SET\s+(.*?)(?:\bWHERE\b|\bRETURNING\b|$)`)
	setColumn = regexp.MustCompile(`(?:^|,)\s*([a-z_]+)\s*=`)
)

// TestEveryWriteIsByTheTablesSeam holds every INSERT, UPDATE and DELETE in
// package server's SQL to doc.go's table of who writes which table: a seam
// writes only its own tables (or, for a shared row, its own columns), and
// reaches another seam's through that seam's functions.
func TestEveryWriteIsByTheTablesSeam(t *testing.T) {
	docBytes, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(docBytes)
	prefixes := seamPrefixes(t, doc)
	writes := make(map[string]map[string]bool) // seam -> "table" or "table.column"
	for _, m := range ownerLine.FindAllStringSubmatch(doc, -1) {
		for _, seam := range strings.Fields(m[1]) {
			if !slices.Contains(prefixes, seam) {
				t.Errorf("doc.go's table of writers names %s, which is not a seam of the map", seam)
			}
			if writes[seam] == nil {
				writes[seam] = make(map[string]bool)
			}
			for _, w := range strings.Fields(m[2]) {
				writes[seam][w] = true
			}
		}
	}
	if len(writes) < 6 {
		t.Fatalf("doc.go's table of who writes which table has %d seams; it is not in the expected form", len(writes))
	}
	statements := 0
	for _, name := range sourceFiles(t) {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		seam := seamOf(name, prefixes)
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			sql, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, m := range writeStmt.FindAllStringSubmatchIndex(sql, -1) {
				verb, table := sql[m[2]:m[3]], sql[m[4]:m[5]]
				if table == "SET" {
					continue
				}
				statements++
				if writes[seam][table] {
					continue
				}
				if verb == "UPDATE" && seam != "" {
					if set := setClause.FindStringSubmatch(sql[m[1]:]); set != nil {
						cols := setColumn.FindAllStringSubmatch(set[1], -1)
						if len(cols) > 0 && !slices.ContainsFunc(cols, func(c []string) bool { return !writes[seam][table+"."+c[1]] }) {
							continue
						}
					}
				}
				t.Errorf("%s (seam %q) runs %s %s, which doc.go gives to another seam: call the owner's function, or correct doc.go's table of who writes which table",
					name, seam, verb, table)
			}
			return true
		})
	}
	if statements < 20 {
		t.Fatalf("found %d write statements in package server; the scan is broken", statements)
	}
}
