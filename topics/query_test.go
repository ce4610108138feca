package topics

import (
	"strings"
	"testing"
	"time"
)

func newQuery(op QueryOp) *Query {
	return &Query{Envelope: NewEnvelope(TypeQuery, RandomID(HostIDPrefix)), Op: op, TimeoutMS: 30000}
}

func TestQueryValidate(t *testing.T) {
	snap := strings.Repeat("ab", 32)
	cases := []struct {
		name string
		edit func(q *Query)
		ok   bool
	}{
		{"ls", func(q *Query) { q.Op, q.Snapshot, q.Path, q.Page = QueryLs, snap, "/home/ada", 3 }, true},
		{"ls root, latest", func(q *Query) { q.Op, q.Snapshot, q.Path = QueryLs, "latest", "/" }, true},
		{"ls windows path", func(q *Query) { q.Op, q.Snapshot, q.Path = QueryLs, "0123abcd", `C:\Users` }, true},
		{"ls short id", func(q *Query) { q.Op, q.Snapshot, q.Path = QueryLs, "0123abc", "/" }, false},
		{"ls upper hex", func(q *Query) { q.Op, q.Snapshot, q.Path = QueryLs, "0123ABCD", "/" }, false},
		{"ls relative path", func(q *Query) { q.Op, q.Snapshot, q.Path = QueryLs, snap, "home" }, false},
		{"ls no path", func(q *Query) { q.Op, q.Snapshot = QueryLs, snap }, false},
		{"ls dot dot", func(q *Query) { q.Op, q.Snapshot, q.Path = QueryLs, snap, "/home/../etc" }, false},
		{"ls control char", func(q *Query) { q.Op, q.Snapshot, q.Path = QueryLs, snap, "/home/\n" }, false},
		{"ls long path", func(q *Query) { q.Op, q.Snapshot, q.Path = QueryLs, snap, "/"+strings.Repeat("a", MaxQueryPath) }, false},
		{"ls negative page", func(q *Query) { q.Op, q.Snapshot, q.Path, q.Page = QueryLs, snap, "/", -1 }, false},
		{"ls page too far", func(q *Query) { q.Op, q.Snapshot, q.Path, q.Page = QueryLs, snap, "/", MaxTreePage+1 }, false},
		{"ls with pattern", func(q *Query) { q.Op, q.Snapshot, q.Path, q.Pattern = QueryLs, snap, "/", "x" }, false},
		{"find", func(q *Query) { q.Op, q.Pattern = QueryFind, "*.pdf" }, true},
		{"find path pattern", func(q *Query) { q.Op, q.Pattern = QueryFind, "/home/*/notes.txt" }, true},
		{"find empty", func(q *Query) { q.Op = QueryFind }, false},
		{"find bad glob", func(q *Query) { q.Op, q.Pattern = QueryFind, "[a" }, false},
		{"find too many wildcards", func(q *Query) { q.Op, q.Pattern = QueryFind, strings.Repeat("*a", MaxPatternWildcards+1) }, false},
		{"find too long", func(q *Query) { q.Op, q.Pattern = QueryFind, strings.Repeat("a", MaxQueryPattern+1) }, false},
		{"find control", func(q *Query) { q.Op, q.Pattern = QueryFind, "a\tb" }, false},
		{"find with snapshot", func(q *Query) { q.Op, q.Pattern, q.Snapshot = QueryFind, "a", snap }, false},
		{"diff", func(q *Query) { q.Op, q.Snapshot, q.SnapshotTo = QueryDiff, "0123abcd", snap }, true},
		{"diff latest", func(q *Query) { q.Op, q.Snapshot, q.SnapshotTo = QueryDiff, snap, "latest" }, false},
		{"diff one side", func(q *Query) { q.Op, q.Snapshot = QueryDiff, snap }, false},
		{"diff with path", func(q *Query) { q.Op, q.Snapshot, q.SnapshotTo, q.Path = QueryDiff, snap, snap, "/" }, false},
		{"diff with page", func(q *Query) { q.Op, q.Snapshot, q.SnapshotTo, q.Page = QueryDiff, snap, snap, 1 }, false},
		{"unknown op", func(q *Query) { q.Op = "rm" }, false},
		{"no timeout", func(q *Query) { q.Op, q.Pattern, q.TimeoutMS = QueryFind, "a", 0 }, false},
		{"timeout too long", func(q *Query) { q.Op, q.Pattern, q.TimeoutMS = QueryFind, "a", MaxQueryTimeout.Milliseconds()+1 }, false},
		{"wrong type", func(q *Query) { q.Op, q.Pattern, q.Type = QueryFind, "a", TypeReply }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := newQuery("")
			tc.edit(q)
			err := q.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func newReply(op QueryOp) *Reply {
	return &Reply{Envelope: NewEnvelope(TypeReply, RandomID(HostIDPrefix)), Request: NewMessageID(), Op: op}
}

func TestReplyValidate(t *testing.T) {
	snap := strings.Repeat("cd", 32)
	now := time.Now().UTC()
	page := func(n int) *TreePage {
		p := &TreePage{Path: "/srv", PageSize: TreePageSize, Total: n}
		for i := 0; i < n; i++ {
			p.Entries = append(p.Entries, TreeEntry{Name: "f" + strings.Repeat("x", i%5), Type: "file", Size: 1, MTime: now})
		}
		return p
	}
	cases := []struct {
		name string
		edit func(r *Reply)
		ok   bool
	}{
		{"tree", func(r *Reply) { r.Op, r.Tree = QueryLs, page(3) }, true},
		{"full page", func(r *Reply) { r.Op, r.Tree = QueryLs, page(TreePageSize) }, true},
		{"page too big", func(r *Reply) { r.Op, r.Tree = QueryLs, page(TreePageSize+1) }, false},
		{"total below page", func(r *Reply) { r.Op, r.Tree = QueryLs, page(3); r.Tree.Total = 2 }, false},
		{"wrong page size", func(r *Reply) { r.Op, r.Tree = QueryLs, page(3); r.Tree.PageSize = 7 }, false},
		{"name with slash", func(r *Reply) { r.Op, r.Tree = QueryLs, page(1); r.Tree.Entries[0].Name = "a/b" }, false},
		{"name dotdot", func(r *Reply) { r.Op, r.Tree = QueryLs, page(1); r.Tree.Entries[0].Name = ".." }, false},
		{"unknown type", func(r *Reply) { r.Op, r.Tree = QueryLs, page(1); r.Tree.Entries[0].Type = "blob" }, false},
		{"tree for find", func(r *Reply) { r.Op, r.Tree = QueryFind, page(1) }, false},
		{"find", func(r *Reply) {
			r.Op, r.Find = QueryFind, &FindResult{Matches: []FindMatch{{Snapshot: snap, Path: "/a/b", Type: "file", MTime: now}}}
		}, true},
		{"find empty", func(r *Reply) { r.Op, r.Find = QueryFind, &FindResult{} }, true},
		{"find short id", func(r *Reply) {
			r.Op, r.Find = QueryFind, &FindResult{Matches: []FindMatch{{Snapshot: snap[:8], Path: "/a", Type: "file"}}}
		}, false},
		{"find relative", func(r *Reply) {
			r.Op, r.Find = QueryFind, &FindResult{Matches: []FindMatch{{Snapshot: snap, Path: "a", Type: "file"}}}
		}, false},
		{"find too many", func(r *Reply) {
			r.Op, r.Find = QueryFind, &FindResult{Matches: make([]FindMatch, MaxFindMatches+1)}
		}, false},
		{"diff", func(r *Reply) {
			r.Op, r.Diff = QueryDiff, &DiffResult{Changes: []DiffChange{{Path: "/a", Modifier: "+"}, {Path: "/b", Modifier: "M"}},
				Stats: &DiffStats{ChangedFiles: 1, Added: DiffCounted{Files: 1, Bytes: 10}}}
		}, true},
		{"diff bad modifier", func(r *Reply) {
			r.Op, r.Diff = QueryDiff, &DiffResult{Changes: []DiffChange{{Path: "/a", Modifier: "X"}}}
		}, false},
		{"diff negative", func(r *Reply) {
			r.Op, r.Diff = QueryDiff, &DiffResult{Stats: &DiffStats{ChangedFiles: -1}}
		}, false},
		{"diff too many", func(r *Reply) {
			r.Op, r.Diff = QueryDiff, &DiffResult{Changes: make([]DiffChange, MaxDiffChanges+1)}
		}, false},
		{"error", func(r *Reply) { r.Op, r.Error, r.ErrorKind = QueryLs, "No such folder.", ReplyErrNotFound }, true},
		{"error without kind", func(r *Reply) { r.Op, r.Error = QueryLs, "No such folder." }, false},
		{"kind without error", func(r *Reply) { r.Op, r.ErrorKind = QueryLs, ReplyErrBusy }, false},
		{"error and result", func(r *Reply) { r.Op, r.Error, r.ErrorKind, r.Tree = QueryLs, "x", ReplyErrFailed, page(1) }, false},
		{"nothing", func(r *Reply) { r.Op = QueryLs }, false},
		{"no request", func(r *Reply) { r.Op, r.Tree, r.Request = QueryLs, page(1), "" }, false},
		{"request with space", func(r *Reply) { r.Op, r.Tree, r.Request = QueryLs, page(1), "a b" }, false},
		{"unknown op", func(r *Reply) { r.Op, r.Error, r.ErrorKind = "dump2", "x", ReplyErrFailed }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newReply("")
			tc.edit(r)
			err := r.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestReplyFitsPacket: a full page of long names (the worst the agent
// sends unshortened) and full find and diff results of typical paths fit
// one message.
func TestReplyFitsPacket(t *testing.T) {
	now := time.Now().UTC()
	r := newReply(QueryLs)
	r.Tree = &TreePage{Path: "/srv", PageSize: TreePageSize, Total: 100000, Truncated: true}
	for i := 0; i < TreePageSize; i++ {
		r.Tree.Entries = append(r.Tree.Entries, TreeEntry{Name: strings.Repeat("n", 255), Type: "file", Size: 1 << 40, MTime: now})
	}
	b, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxPayload {
		t.Fatalf("a full page of 255-byte names is %d bytes, more than %d", len(b), MaxPayload)
	}
	f := newReply(QueryFind)
	f.Find = &FindResult{}
	for i := 0; i < MaxFindMatches; i++ {
		f.Find.Matches = append(f.Find.Matches, FindMatch{Snapshot: strings.Repeat("ab", 32), Path: "/home/ada/" + strings.Repeat("p", 200), Type: "file", MTime: now})
	}
	if b, err = Encode(f); err != nil || len(b) > MaxPayload {
		t.Fatalf("a full find result of 210-byte paths: %d bytes, %v", len(b), err)
	}
}

func FuzzDecodeQuery(f *testing.F) {
	q := newQuery(QueryLs)
	q.Snapshot, q.Path = "latest", "/home"
	seed(f, q)
	q2 := newQuery(QueryFind)
	q2.Pattern = "*.pdf"
	seed(f, q2)
	f.Add([]byte(`{"v":1,"id":"x","type":"query","ts":"2026-01-01T00:00:00Z","op":"diff","timeout_ms":1,"snapshot":"0123abcd","snapshot_to":"0123abce"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func(m *Query) string {
			if _, ok := queryRules[m.Op]; !ok || m.Timeout() <= 0 || m.Timeout() > MaxQueryTimeout || m.Page < 0 {
				return "op, timeout or page"
			}
			return ""
		})
	})
}

func FuzzDecodeReply(f *testing.F) {
	r := newReply(QueryLs)
	r.Tree = &TreePage{Path: "/", PageSize: TreePageSize, Total: 1, Entries: []TreeEntry{{Name: "etc", Type: "dir"}}}
	seed(f, r)
	r2 := newReply(QueryDiff)
	r2.Diff = &DiffResult{Changes: []DiffChange{{Path: "/a", Modifier: "-"}}, Stats: &DiffStats{}}
	seed(f, r2)
	r3 := newReply(QueryFind)
	r3.Error, r3.ErrorKind = "Too busy.", ReplyErrBusy
	seed(f, r3)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func(m *Reply) string {
			n := 0
			for _, set := range []bool{m.Tree != nil, m.Find != nil, m.Diff != nil} {
				if set {
					n++
				}
			}
			if (m.Error == "") != (n == 1) || n > 1 {
				return "an error and a result, or neither"
			}
			if m.Tree != nil && len(m.Tree.Entries) > TreePageSize {
				return "page too big"
			}
			return ""
		})
	})
}
