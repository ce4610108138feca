package web

import (
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// repoView is a host's repository state as the host page's vitals line and
// the repository page show it: a badge (tone and word), when, and what to do
// next ("init failed · job 12 · retry"). It never holds a secret.
type repoView struct {
	server.RepositoryStatus
	HostID string
	Tone   string
	Word   string
	Lead   string     // before Since: "initialised", "set"
	Since  *time.Time // nil: say nothing about when
	// JobID is the init job to look at (initializing, failed).
	JobID int64
	// Action is the next step: "set one" (no repository), "retry" (failed).
	Action    string
	ActionURL string
}

func newRepoView(hostID string, r *server.RepositoryStatus) repoView {
	v := repoView{HostID: hostID, Tone: "idle", Word: "no repository"}
	if r == nil {
		v.Action, v.ActionURL = "set one", "/hosts/"+hostID+"/repository"
		return v
	}
	v.RepositoryStatus = *r
	switch r.State {
	case server.RepoReady:
		v.Tone, v.Word, v.Lead, v.Since = "ok", "repository ready", "initialised", r.InitializedAt
	case server.RepoInitializing:
		v.Tone, v.Word, v.JobID = "info", "initializing…", r.InitJobID
		v.Lead, v.Since = "set", r.UpdatedAt
	case server.RepoFailed:
		v.Tone, v.Word, v.JobID = "bad", "init failed", r.InitJobID
		v.Action, v.ActionURL = "retry", "/hosts/"+hostID+"/repository#reinit"
	default:
		v.Action, v.ActionURL = "set one", "/hosts/"+hostID+"/repository"
	}
	return v
}

// Ready reports whether jobs other than init can run: once a repository
// is set. After a failed init they may still (unlock or check can be what
// fixes it); they then fail with the same reason, which the job says.
func (v repoView) Ready() bool { return v.IsSet() }

// Failed reports whether the last init did not succeed.
func (v repoView) Failed() bool { return v.State == server.RepoFailed }

// IsSet reports whether a repository was ever set.
func (v repoView) IsSet() bool { return v.State != "" && v.State != server.RepoNone }
