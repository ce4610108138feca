package agent

import (
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

func listingOf(n int) *restic.Listing {
	l := &restic.Listing{Total: n}
	for range n {
		l.Children = append(l.Children, restic.Node{Name: "x", Type: "file"})
	}
	return l
}

// TestListingCache: only full snapshot ids are cached, per repository and
// folder; the least recently used folders go first when it is full.
func TestListingCache(t *testing.T) {
	repo := restic.Repository{URL: "/srv/repo"}
	snap := strings.Repeat("ab", 32)
	if k := listingKey(repo, "latest", "/"); k != "" {
		t.Fatalf("latest got a cache key %q", k)
	}
	if k := listingKey(repo, snap[:8], "/"); k != "" {
		t.Fatalf("a short id got a cache key %q", k)
	}
	var c listingCache
	a, b, d := listingKey(repo, snap, "/a"), listingKey(repo, snap, "/b"), listingKey(repo, snap, "/d")
	if listingKey(restic.Repository{URL: "/other"}, snap, "/a") == a {
		t.Fatal("two repositories share a key")
	}
	half := maxCachedEntries / 2
	c.put(a, listingOf(half))
	c.put(b, listingOf(half))
	if c.get(a) == nil || c.get(b) == nil {
		t.Fatal("cached folders not found")
	}
	c.get(a)                // a is now the most recently used
	c.put(d, listingOf(10)) // no room: b goes
	if c.get(b) != nil || c.get(a) == nil || c.get(d) == nil {
		t.Fatalf("eviction kept the wrong folders (entries %d)", c.entries)
	}
	if c.entries > maxCachedEntries {
		t.Fatalf("cache holds %d entries, more than %d", c.entries, maxCachedEntries)
	}
	c.put(listingKey(repo, snap, "/huge"), listingOf(maxCachedEntries+1))
	if c.get(listingKey(repo, snap, "/huge")) != nil {
		t.Fatal("a folder larger than the whole cache was kept")
	}
}

// TestTreePage: folders first, then by name; pages of TreePageSize; a
// page past the end is empty with the total; a listing cut at its cap is
// truncated.
func TestTreePage(t *testing.T) {
	l := &restic.Listing{Total: 1203}
	for i := range 1200 {
		l.Children = append(l.Children, restic.Node{Name: string(rune('a'+i%26)) + strings.Repeat("z", i/26), Type: "file"})
	}
	for _, d := range []string{"zeta", "alpha", "mid"} {
		l.Children = append(l.Children, restic.Node{Name: d, Type: "dir"})
	}
	sortListing(l)
	q := &topics.Query{Path: "/srv"}
	p0 := treePage(q, l)
	if len(p0.Entries) != topics.TreePageSize || p0.Entries[0].Name != "alpha" || p0.Entries[2].Name != "zeta" || p0.Entries[3].Type != "file" || p0.Truncated {
		t.Fatalf("page 0 starts %+v", p0.Entries[:4])
	}
	q.Page = 2
	if p2 := treePage(q, l); len(p2.Entries) != 203 || p2.Total != 1203 {
		t.Fatalf("page 2: %d entries of %d", len(p2.Entries), p2.Total)
	}
	q.Page = 3
	if p3 := treePage(q, l); len(p3.Entries) != 0 || p3.Entries == nil {
		t.Fatalf("page 3: %+v, want an empty (not null) page", p3.Entries)
	}
	l.Total = topics.MaxTreeEntries + 5
	if !treePage(q, l).Truncated {
		t.Fatal("a listing with more entries than it kept is not truncated")
	}
}
