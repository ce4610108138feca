package web

import (
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// Where the restore form sends the files (restoreForm.Where).
const (
	restoreToDirectory = "directory" // a directory on the snapshot's host
	restoreToOriginal  = "original"  // back where they were, on the snapshot's host (admin)
	restoreToHost      = "host"      // a directory on another host (admin)
)

// restoreForm is the restore page's form (#14): the paths picked (one
// include each, from the tree view or typed), where they go, and how.
// Fields are kept as typed, so a refused form comes back with its values.
type restoreForm struct {
	Include []string
	Where   string
	// Target is the directory for restoreToDirectory and restoreToHost.
	Target string
	// TargetHost is the host id for restoreToHost.
	TargetHost string
	// ConfirmOriginal is the explicit "overwrite the live files" tick.
	ConfirmOriginal bool
	Overwrite       string
	Verify          bool
}

// newRestoreForm reads the POSTed form.
func newRestoreForm(c *gin.Context) restoreForm {
	f := func(name string) string { return strings.TrimSpace(c.PostForm(name)) }
	return restoreForm{
		Include: nonEmpty(c.PostFormArray("include")), Where: f("where"), Target: f("target"),
		TargetHost: f("target_host"), ConfirmOriginal: c.PostForm("confirm_original") != "",
		Overwrite: f("overwrite"), Verify: c.PostForm("verify") != "",
	}
}

// job turns the form into the host the job runs on and its spec, or says
// in one sentence what to fix. hostID is the snapshot's host; snapshot its
// full id. topics has the last word on the spec (checkJobSource).
func (f restoreForm) job(hostID, snapshot string) (string, topics.JobSpec, string) {
	spec := topics.JobSpec{Kind: topics.JobRestore, Snapshot: snapshot, Include: f.Include, Target: f.Target,
		Overwrite: topics.OverwritePolicy(f.Overwrite), Verify: f.Verify}
	runOn := hostID
	switch f.Where {
	case restoreToDirectory:
		if f.Target == "" {
			return "", spec, "Enter the directory on the host to restore into (an absolute path such as /srv/restore), then restore again."
		}
	case restoreToOriginal:
		if !f.ConfirmOriginal {
			return "", spec, "Tick the box that confirms the restore overwrites the live files in their original location, then restore again."
		}
		spec.Target = "/"
	case restoreToHost:
		if f.TargetHost == "" || f.TargetHost == hostID {
			return "", spec, "Choose the other host the files go to, then restore again."
		}
		if f.Target == "" {
			return "", spec, "Enter the directory on the other host to restore into (an absolute path such as /srv/restore), then restore again."
		}
		runOn, spec.SourceHost = f.TargetHost, hostID
	default:
		return "", spec, "Choose where the files go: a directory, their original location or another host."
	}
	if err := checkJobSource(spec, ""); err != nil {
		return "", spec, server.PublicMessage(err)
	}
	return runOn, spec, ""
}

// nonEmpty keeps the trimmed, non-empty values.
func nonEmpty(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// restoreWords is a restore job in a few words: "restore 1a2b3c4d of host
// h_… to /tmp/r (only /etc; overwrite never, verified)".
func restoreWords(s topics.JobSpec) string {
	what := "restore " + shortID(s.Snapshot)
	if s.SourceHost != "" {
		what += " of host " + s.SourceHost
	}
	if s.RestoresInPlace() {
		what += " to its original location"
	} else {
		what += " to " + s.Target
	}
	var opts []string
	if len(s.Include) > 0 {
		opts = append(opts, "only "+listWords(s.Include, 2))
	}
	if s.Overwrite != "" {
		opts = append(opts, "overwrite "+string(s.Overwrite))
	}
	if s.Verify {
		opts = append(opts, "verified")
	}
	if len(opts) > 0 {
		what += " (" + strings.Join(opts, "; ") + ")"
	}
	return what
}
