package server_test

import (
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
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

// TestEveryServerFileBelongsToASeam keeps doc.go's map of seams honest: every
// non-test file of package server starts with a prefix the map lists, or is a
// seam's root file (jobs.go for jobs_) or doc.go itself.
func TestEveryServerFileBelongsToASeam(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var prefixes []string
	for _, m := range seamLine.FindAllStringSubmatch(string(doc), -1) {
		prefixes = append(prefixes, m[1])
	}
	if len(prefixes) < 7 {
		t.Fatalf("doc.go lists %d seams (%v); its map of seams is not in the expected form", len(prefixes), prefixes)
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		checked++
		if name == "doc.go" || slices.ContainsFunc(prefixes, func(p string) bool {
			return strings.HasPrefix(name, p) || name == strings.TrimSuffix(p, "_")+".go"
		}) {
			continue
		}
		t.Errorf("%s belongs to no seam: name it after the seam that owns its data (%s), or add a seam to doc.go's map and docs/architecture.md",
			name, strings.Join(prefixes, ", "))
	}
	if checked == 0 {
		t.Fatal("no source file found in package server")
	}
}
