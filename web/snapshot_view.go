package web

import (
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// snapshotsView is the host page's snapshot list with a Restore form per
// snapshot (for those who may run jobs) and Refresh list.
type snapshotsView struct {
	HostID     string
	ReportedAt *time.Time // nil: the agent never reported a list
	Snapshots  []snapshotView
	CanRun     bool
	CSRF       string
	RepoReady  bool
}

// snapshotView is one snapshot as the list shows it; TagViews show a
// source group's tag as the group's name.
type snapshotView struct {
	server.Snapshot
	TagViews []tagView
	// Previous is the id of the snapshot before this one in the list
	// (older), "" for the oldest: "compare with previous" (#14).
	Previous string
}

// BrowsePath is the folder the Browse link opens: the snapshot's one
// path, or the root when it holds several.
func (v snapshotView) BrowsePath() string {
	if len(v.Paths) == 1 && strings.HasPrefix(v.Paths[0], "/") {
		return v.Paths[0]
	}
	return "/"
}

// Short is the id restic shows (8 hex digits).
func (v snapshotView) Short() string {
	if v.ShortID != "" {
		return v.ShortID
	}
	return shortID(v.ID)
}

// Added is the data the snapshot added to the repository, or "" when restic
// (before 0.17) did not say.
func (v snapshotView) Added() string {
	if v.DataAdded == 0 && v.TotalFilesProcessed == 0 {
		return ""
	}
	return humanBytes(v.DataAdded)
}

func newSnapshotsView(hostID string, list *server.SnapshotList, canRun bool, csrf string, repoReady bool, names hostNames) snapshotsView {
	v := snapshotsView{HostID: hostID, CanRun: canRun, CSRF: csrf, RepoReady: repoReady}
	if list == nil {
		return v
	}
	v.ReportedAt = list.ReportedAt
	v.Snapshots = make([]snapshotView, len(list.Snapshots))
	for i, s := range list.Snapshots {
		v.Snapshots[i] = snapshotView{Snapshot: s, TagViews: make([]tagView, len(s.Tags))}
		if i+1 < len(list.Snapshots) {
			v.Snapshots[i].Previous = list.Snapshots[i+1].ID
		}
		for j, t := range s.Tags {
			v.Snapshots[i].TagViews[j] = names.tag(t)
		}
	}
	return v
}
