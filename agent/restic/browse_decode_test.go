package restic

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// browseFixture reads what restic 0.18.1 printed (testdata/browse/capture.sh).
func browseFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "browse", "restic-0.18.1", name+".stdout"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// capturedDocs is the folder ls.stdout lists (its path has the capture's
// temporary directory in it).
func capturedDocs(t testing.TB) string {
	for _, line := range strings.Split(string(browseFixture(t, "ls")), "\n") {
		if strings.Contains(line, `"name":"docs"`) {
			i := strings.Index(line, `"path":"`) + len(`"path":"`)
			return line[i : i+strings.Index(line[i:], `"`)]
		}
	}
	t.Fatal("ls.stdout has no docs folder")
	return ""
}

func TestScanLs(t *testing.T) {
	docs := capturedDocs(t)
	l, err := ScanLs(bytes.NewReader(browseFixture(t, "ls")), docs, 100)
	if err != nil {
		t.Fatal(err)
	}
	if l.Self == nil || l.Self.Type != "dir" || l.Total != 5 || len(l.Children) != 5 {
		t.Fatalf("listing = self %+v, total %d, children %d; want the folder and its 5 children", l.Self, l.Total, len(l.Children))
	}
	got := map[string]string{}
	for _, c := range l.Children {
		got[c.Name] = c.Type
	}
	want := map[string]string{"a.txt": "file", "b.pdf": "file", "link": "symlink", "new.txt": "file", "sub": "dir"}
	for name, typ := range want {
		if got[name] != typ {
			t.Errorf("child %s: type %q, want %q (all: %v)", name, got[name], typ, got)
		}
	}
	if c := l.Children[0]; c.Name != "a.txt" || c.Size != 12 || c.Mtime.IsZero() {
		t.Errorf("first child = %+v, want a.txt of 12 bytes with its mtime", c)
	}

	capped, err := ScanLs(bytes.NewReader(browseFixture(t, "ls")), docs, 2)
	if err != nil || len(capped.Children) != 2 || capped.Total != 5 {
		t.Fatalf("capped at 2: %d children, total %d, %v; want 2 kept of 5 counted", len(capped.Children), capped.Total, err)
	}
	root, err := ScanLs(bytes.NewReader(browseFixture(t, "ls-root")), "/", 100)
	if err != nil || root.Self != nil || root.Total != 1 || root.Children[0].Name != "tmp" {
		t.Fatalf("root listing = %+v, %v; want tmp only", root, err)
	}
	missing, err := ScanLs(bytes.NewReader(browseFixture(t, "ls-missing")), filepath.Dir(docs)+"/nope", 100)
	if err != nil || missing.Self != nil || missing.Total != 0 {
		t.Fatalf("missing folder listing = %+v, %v; want nothing", missing, err)
	}
}

func TestScanFind(t *testing.T) {
	m, truncated, err := ScanFind(bytes.NewReader(browseFixture(t, "find")), 10)
	if err != nil || truncated || len(m) != 1 {
		t.Fatalf("find = %+v, %v, %v; want one match", m, truncated, err)
	}
	if !strings.HasSuffix(m[0].Path, "/src/photos/gone.jpg") || !topics.ValidSnapshotID(m[0].Snapshot) || m[0].Type != "file" || m[0].Size != 4 {
		t.Errorf("match = %+v, want gone.jpg of 4 bytes in a full snapshot id", m[0])
	}
	all, truncated, err := ScanFind(bytes.NewReader(browseFixture(t, "find-many")), 1000)
	if err != nil || truncated || len(all) < 10 {
		t.Fatalf("find * = %d matches, %v, %v", len(all), truncated, err)
	}
	few, truncated, err := ScanFind(bytes.NewReader(browseFixture(t, "find-many")), 3)
	if !errors.Is(err, ErrEnough) || !truncated || len(few) != 3 {
		t.Fatalf("find * capped at 3 = %d matches, truncated %v, %v; want 3, truncated, ErrEnough", len(few), truncated, err)
	}
	for i := range few {
		if few[i] != all[i] {
			t.Errorf("capped match %d = %+v, want %+v (restic's order)", i, few[i], all[i])
		}
	}
	for _, out := range []string{"find-none", ""} {
		var data []byte
		if out != "" {
			data = browseFixture(t, out)
		}
		if m, truncated, err := ScanFind(bytes.NewReader(data), 10); err != nil || truncated || len(m) != 0 {
			t.Errorf("find output %q = %+v, %v, %v; want no match", out, m, truncated, err)
		}
	}
	if _, _, err := ScanFind(strings.NewReader(`{"matches":[]}`), 10); err == nil {
		t.Error("an object instead of an array was accepted")
	}
}

func TestScanDiff(t *testing.T) {
	d, err := ScanDiff(bytes.NewReader(browseFixture(t, "diff")), 100)
	if err != nil || d.Truncated || len(d.Changes) != 3 || d.Stats == nil {
		t.Fatalf("diff = %+v, %v; want 3 changes and the statistics", d, err)
	}
	mods := ""
	for _, c := range d.Changes {
		mods += c.Modifier
	}
	if mods != "M+-" || d.Stats.ChangedFiles != 1 || d.Stats.Added.Files != 1 || d.Stats.Removed.Files != 1 || d.Stats.Added.Bytes == 0 {
		t.Errorf("diff = %+v (stats %+v), want M + - and one file added, removed, changed", d.Changes, *d.Stats)
	}
	capped, err := ScanDiff(bytes.NewReader(browseFixture(t, "diff")), 1)
	if err != nil || !capped.Truncated || len(capped.Changes) != 1 || capped.Stats == nil {
		t.Fatalf("diff capped at 1 = %+v, %v; want 1 change, truncated, statistics still read", capped, err)
	}
}

// TestScanLinesSkipsOverlong: a line longer than the buffer is skipped
// whole, the next one still read.
func TestScanLinesSkipsOverlong(t *testing.T) {
	in := strings.Repeat("x", maxBrowseLine*2+7) + "\n" + `{"message_type":"change","path":"/a","modifier":"+"}` + "\n"
	d, err := ScanDiff(strings.NewReader(in), 10)
	if err != nil || len(d.Changes) != 1 || d.Changes[0].Path != "/a" {
		t.Fatalf("diff after an overlong line = %+v, %v", d, err)
	}
}

func FuzzScanLs(f *testing.F) {
	for _, name := range []string{"ls", "ls-root", "ls-missing"} {
		f.Add(browseFixture(f, name), "/")
	}
	f.Fuzz(func(t *testing.T, data []byte, dir string) {
		l, err := ScanLs(bytes.NewReader(data), dir, 3)
		if err != nil {
			return
		}
		if len(l.Children) > 3 || l.Total < len(l.Children) {
			t.Fatalf("cap broken: %d children, total %d", len(l.Children), l.Total)
		}
		p := &topics.TreePage{Path: "/", PageSize: topics.TreePageSize, Total: l.Total}
		for _, c := range l.Children {
			p.Entries = append(p.Entries, topics.TreeEntry{Name: c.Name, Type: c.Type, Size: c.Size, MTime: c.Mtime})
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("a kept child fails the wire's rules: %v", err)
		}
	})
}

func FuzzScanFind(f *testing.F) {
	for _, name := range []string{"find", "find-many", "find-none"} {
		f.Add(browseFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, _, err := ScanFind(bytes.NewReader(data), 4)
		if err != nil && !errors.Is(err, ErrEnough) {
			return
		}
		if len(m) > 4 {
			t.Fatalf("cap broken: %d matches", len(m))
		}
		if err := (&topics.FindResult{Matches: m}).Validate(); err != nil {
			t.Fatalf("a kept match fails the wire's rules: %v", err)
		}
	})
}

func FuzzScanDiff(f *testing.F) {
	for _, name := range []string{"diff", "diff-missing"} {
		f.Add(browseFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ScanDiff(bytes.NewReader(data), 4)
		if err != nil {
			return
		}
		if len(d.Changes) > 4 {
			t.Fatalf("cap broken: %d changes", len(d.Changes))
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("the diff fails the wire's rules: %v", err)
		}
	})
}
