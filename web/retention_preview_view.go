package web

import (
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// previewView is a retention preview as the group page shows it while its
// dry-run job runs and once it ended: "would remove N snapshots: …, keep M".
type previewView struct {
	Job    jobView
	Remove []previewSnapshot
	Kept   int
	Error  string // the preview could not be queued: one sentence
}

// previewSnapshot is one snapshot the policy would remove.
type previewSnapshot struct {
	ShortID string
	Time    time.Time // zero when the host's snapshot list does not have it
}

// Polling reports whether the page should ask again: the job has not ended.
func (v previewView) Polling() bool { return v.Error == "" && !v.Job.Terminal() }

// newPreviewView reads a finished preview's ids against the host's last
// snapshot list for their times (ids may be short or long).
func newPreviewView(j server.Job, snaps *server.SnapshotList) previewView {
	v := previewView{Job: newJobView(j)}
	if j.Summary == nil {
		return v
	}
	v.Kept = j.Summary.SnapshotsKept
	for _, id := range j.Summary.WouldRemove {
		s := previewSnapshot{ShortID: shortID(id)}
		if snaps != nil {
			for _, sn := range snaps.Snapshots {
				if strings.HasPrefix(sn.ID, id) || strings.HasPrefix(id, sn.ID) {
					s.Time = sn.Time
					break
				}
			}
		}
		v.Remove = append(v.Remove, s)
	}
	return v
}

// isPreview reports whether a job is a retention preview (a dry-run forget).
func isPreview(j server.Job) bool { return j.Preview }
