package server

import (
	"fmt"

	"github.com/restic-manager/restic-manager/topics"
)

// Who may remove data (#9 point 9). An operator runs backups, checks,
// restores, unlocks and snapshot listings, and the policies an admin set
// run by themselves (scheduled forget and prune, a source group's forget
// after backup: the agent runs those from its config, and a group's Run now
// takes the group's policy). A job asked for ad hoc that removes data is
// admin-only:
//   - forget, with a policy of the caller's own (a dry run removes nothing
//     and stays an operator's, like the retention preview);
//   - prune, and forget --prune;
//   - a backup bringing its own forget-after policy.
//
// Restore writes into a directory on the host but never deletes files there
// (the spec has no --delete), and unlock removes only stale locks; both stay
// an operator's. So does init: restic refuses to init over an existing
// repository (the agent reports "already initialised" as success), so an
// init job removes nothing, and retrying an init that failed (the remote
// was unreachable) is repair work like unlock. Setting or replacing the
// repository itself (the Repository page, re-init) was and stays
// PermConfigure. A new kind or option that removes data belongs here.

// MayRemoveData reports whether r may run jobs that remove data: an ad-hoc
// forget or prune. Only admins may.
func (r Role) MayRemoveData() bool { return r.Allows(PermAdmin) }

// removesData says what an ad-hoc job spec would remove, in a few words for
// the refusal, or "" when it removes nothing.
func removesData(spec topics.JobSpec) string {
	switch {
	case spec.Kind == topics.JobForget && spec.Prune:
		return "removing snapshots and the data only they use"
	case spec.Kind == topics.JobForget && !spec.DryRun:
		return "removing snapshots"
	case spec.Kind == topics.JobPrune:
		return "removing data from the repository"
	case spec.Kind == topics.JobBackup && spec.ForgetAfter != nil:
		return "removing snapshots after a backup with a policy of its own"
	}
	return ""
}

// Restore anywhere (#14): a restore into the original location (target
// "/") overwrites live files, and a cross-host restore hands one host's
// repository credentials to another; both are admin-only, like removing
// data, and audited with the restore's details (jobs_restore.go).

// restoreNeedsAdmin says what makes a restore spec admin-only, in a few
// words for the refusal, or "".
func restoreNeedsAdmin(spec topics.JobSpec) string {
	switch {
	case spec.IsCrossHost():
		return "a restore from another host's repository"
	case spec.RestoresInPlace():
		return "a restore into the original location, over the live files"
	}
	return ""
}

// requireJobKind refuses an ad-hoc job that removes data, or an admin-only
// restore, unless a's role may remove data, with a sentence that says why
// and what to do.
func (a Actor) requireJobKind(spec topics.JobSpec) error {
	if what := restoreNeedsAdmin(spec); what != "" && !a.Role.MayRemoveData() {
		return &Error{Code: CodeForbidden, Message: fmt.Sprintf("Your role (%s) may not run %s: it is admin-only; ask an admin.", a.Role, what)}
	}
	what := removesData(spec)
	if what == "" || a.Role.MayRemoveData() {
		return nil
	}
	return &Error{Code: CodeForbidden, Message: fmt.Sprintf("Your role (%s) may not run %s: %s is admin-only; ask an admin.",
		a.Role, clipText(string(spec.Kind)), what)}
}
