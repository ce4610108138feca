package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// notParallel is how a test of this package says why it cannot run beside
// the others, in its doc comment or its body.
const notParallel = "Not parallel:"

// TestEveryTestRunsInParallel: the package's tests start real servers,
// agents, restic and Chromium and spend most of their time waiting, so they
// run side by side (waitingTestsInParallel). go test runs every test that
// does not call t.Parallel() before the first parallel one starts, each
// alone: one such test holds up the whole package by its own length (the
// 12 s of TestDownloadE2E did). A test that cannot run beside the others
// (t.Setenv, the process's umask) says why in a comment starting "Not
// parallel:".
func TestEveryTestRunsInParallel(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*_test.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("the package's test files: %v %v", files, err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") || fn.Name.Name == "TestMain" {
				continue
			}
			checked++
			if !callsParallelFirst(fn) && !saysWhyNotParallel(f, fn) {
				t.Errorf("%s: %s does not call t.Parallel() first: it runs alone before any parallel test starts. "+
					"Call it, or say why the test cannot in a comment starting %q.", fset.Position(fn.Pos()), fn.Name.Name, notParallel)
			}
		}
	}
	if checked < 50 {
		t.Fatalf("checked %d tests; the package has more: the parser missed them", checked)
	}
}

// callsParallelFirst reports whether fn's first statement is t.Parallel().
func callsParallelFirst(fn *ast.FuncDecl) bool {
	if fn.Body == nil || len(fn.Body.List) == 0 {
		return false
	}
	stmt, ok := fn.Body.List[0].(*ast.ExprStmt)
	if !ok {
		return false
	}
	call, ok := stmt.X.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "Parallel" && len(call.Args) == 0
}

// saysWhyNotParallel reports whether fn's doc comment or a comment in its
// body starts with notParallel.
func saysWhyNotParallel(f *ast.File, fn *ast.FuncDecl) bool {
	for _, g := range f.Comments {
		if g != fn.Doc && (g.Pos() < fn.Pos() || g.End() > fn.End()) {
			continue
		}
		for _, c := range g.List {
			if strings.Contains(c.Text, notParallel) {
				return true
			}
		}
	}
	return false
}
