package server

import (
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// TestSourceSnapshot: a cross-host restore's snapshot is resolved in the
// source host's list (newest first). In a repository shared by several
// hosts, "latest" is the source host's newest (by its restic hostname);
// an id or a unique prefix must be in the list.
func TestSourceSnapshot(t *testing.T) {
	t.Parallel()
	snap := func(id, hostname string, age time.Duration) Snapshot {
		return Snapshot{SnapshotInfo: topics.SnapshotInfo{ID: strings.Repeat(id, 64/len(id)), Hostname: hostname, Time: time.Now().Add(-age)}}
	}
	shared := []Snapshot{snap("aa", "other-pc", time.Hour), snap("ab", "laptop", 2*time.Hour), snap("bb", "laptop", 3*time.Hour)}
	src := &Host{Name: "laptop", Hostname: "laptop"}
	for _, c := range []struct {
		name  string
		snaps []Snapshot
		host  *Host
		ref   string
		want  string // the full id, or part of the refusal
		ok    bool
	}{
		{"latest is the source's own newest", shared, src, "latest", shared[1].ID, true},
		{"latest without a hostname match is the list's newest", shared, &Host{Name: "laptop", Hostname: "renamed"}, "latest", shared[0].ID, true},
		{"a full id", shared, src, shared[2].ID, shared[2].ID, true},
		{"a unique prefix", shared, src, "bbbbbbbb", shared[2].ID, true},
		{"an ambiguous prefix", []Snapshot{snap("ab", "laptop", 0), snap("abab", "laptop", time.Hour)}, src, "abababab", "matches 2 snapshots", false},
		{"an id not in the list", shared, src, "cccccccc", "not in laptop's snapshot list", false},
		{"no snapshots known", nil, src, "latest", "knows no snapshots of laptop", false},
	} {
		got, err := sourceSnapshot(c.snaps, c.host, c.ref)
		switch {
		case c.ok && (err != nil || got != c.want):
			t.Errorf("%s: got %q, %v; want %q", c.name, got, err, c.want)
		case !c.ok && (err == nil || !strings.Contains(err.Error(), c.want) || ErrorCodeOf(err) != CodeInvalid):
			t.Errorf("%s: got %q, %v; want an invalid-input refusal containing %q", c.name, got, err, c.want)
		}
	}
}
