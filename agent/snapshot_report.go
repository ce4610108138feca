package agent

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/restic-manager/restic-manager/agent/outbox"
	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// maxSnapshotPartBytes bounds the encoded snapshots of one report part:
// well under the broker's and the server's 256 KiB message limit, with
// room for the envelope.
const maxSnapshotPartBytes = 128 << 10

// changesSnapshots reports whether a job changed the repository's
// snapshot list: a backup that made a snapshot, a forget that removed
// some.
func changesSnapshots(op restic.Op, res *restic.Result) bool {
	switch op.Kind {
	case topics.JobBackup:
		return res.Summary != nil && res.Summary.SnapshotID != ""
	case topics.JobForget:
		return !op.Forget.DryRun && len(restic.RemovedIDs(res.Forget)) > 0
	}
	return false
}

// listSnapshotsIfDue sends the server the snapshot list after a job
// changed it (jobQueue.listFor). It runs after the job's terminal event,
// so that the job's duration and result do not wait for another restic
// run, and before the next job: it still holds the one-restic slot. The
// job's log is complete by then, so this step logs to the agent's own
// log. A failure changes nothing about the job; the list is tried again
// after the next job.
//
// `restic snapshots` takes a lock like any restic run. The journal knows
// of no job now, so if the agent dies meanwhile nothing would say that a
// stale lock may be left: the stale-lock mark is set for the duration.
func (a *Agent) listSnapshotsIfDue() {
	q := a.jobs
	repo := a.desired.repository()
	if q.listFor == "" || repo == nil || a.stopping.Err() != nil {
		return
	}
	q.setListing(true)
	defer q.setListing(false)
	marked := a.staleLock.pending() == ""
	if marked {
		a.staleLock.set("the agent stopped while restic listed the snapshots after job " + q.listFor)
	}
	a.log.Info("listing the repository's snapshots for the server", "job", q.listFor)
	list, err := a.runner.Run(a.stopping, restic.Op{Kind: topics.JobSnapshots, Repository: *repo, Bandwidth: a.desired.bandwidth()})
	if marked && (err != nil || !killedRestic(list)) {
		a.staleLock.clear()
	}
	switch {
	case err != nil:
		a.log.Warn("could not list the snapshots; trying again after the next job", "job", q.listFor, "err", err)
	case list.Outcome != restic.OutcomeSucceeded:
		a.log.Warn("could not list the snapshots; trying again after the next job", "job", q.listFor, "reason", list.Reason, "detail", list.Detail)
	default:
		if n, err := a.sendSnapshotReport(q.listFor, list.Snapshots, time.Now()); err != nil {
			a.log.Error("cannot store the snapshot report; trying again after the next job", "job", q.listFor, "err", err)
		} else {
			a.log.Info("sent the snapshot list to the server", "job", q.listFor, "snapshots", n)
			q.listFor = ""
		}
	}
}

// sendSnapshotReport stores the list as one report in as many parts as it
// needs (topics.MaxSnapshotsPerPart snapshots and maxSnapshotPartBytes
// each), sharing one report id, and returns how many snapshots it holds.
func (a *Agent) sendSnapshotReport(job string, snaps []restic.Snapshot, takenAt time.Time) (int, error) {
	infos := make([]topics.SnapshotInfo, 0, len(snaps))
	for _, s := range snaps {
		if info, ok := snapshotInfo(s); ok {
			infos = append(infos, info)
		} else {
			a.log.Warn("snapshot left out of the report: restic gave no full snapshot id", "snapshot", clipText(s.ID))
		}
	}
	parts := splitSnapshots(infos, topics.MaxSnapshotsPerPart, maxSnapshotPartBytes)
	report := topics.NewMessageID()
	for i, part := range parts {
		msg := &topics.SnapshotReport{
			Envelope:  topics.NewEnvelope(topics.TypeSnapshots, a.cfg.HostID),
			Report:    report,
			Part:      i + 1,
			Parts:     len(parts),
			TakenAt:   takenAt.UTC(),
			Job:       job,
			Snapshots: part,
		}
		if _, err := a.store(outbox.KindResult, topics.SnapshotsTopic(a.cfg.HostID), func(seq uint64) ([]byte, error) {
			msg.Seq = seq
			return topics.Encode(msg)
		}); err != nil {
			return 0, fmt.Errorf("store part %d of the snapshot report: %w", i+1, err)
		}
	}
	return len(infos), nil
}

// snapshotInfo is a restic snapshot as the wire carries it. restic 0.14
// lists no per-snapshot summary; the sizes are then zero.
func snapshotInfo(s restic.Snapshot) (topics.SnapshotInfo, bool) {
	if len(s.ID) != 64 || !topics.ValidResticID(s.ID) {
		return topics.SnapshotInfo{}, false
	}
	info := topics.SnapshotInfo{
		ID:       s.ID,
		Time:     s.Time.UTC(),
		Hostname: clipUTF8(s.Hostname, topics.MaxSpecField, ""),
		Username: clipUTF8(s.Username, topics.MaxSpecField, ""),
		Paths:    clipList(s.Paths),
		Tags:     clipList(s.Tags),
	}
	if info.Paths == nil {
		info.Paths = []string{}
	}
	if topics.ValidResticID(s.Parent) {
		info.Parent = s.Parent
	}
	if sum := s.Summary; sum != nil {
		info.DataAdded, info.TotalFilesProcessed, info.TotalBytesProcessed = sum.DataAdded, sum.TotalFilesProcessed, sum.TotalBytesProcessed
	}
	return info, true
}

func clipList(items []string) []string {
	if len(items) > topics.MaxSpecList {
		items = items[:topics.MaxSpecList]
	}
	var out []string
	for _, it := range items {
		out = append(out, clipUTF8(it, topics.MaxSpecField, ""))
	}
	return out
}

// splitSnapshots packs infos, in order, into parts of at most perPart
// snapshots and maxBytes of encoded snapshots. A snapshot that alone is
// larger (thousands of long paths) keeps only as many of its paths and
// tags as fit. An empty list is one empty part: the report still says
// "no snapshots".
func splitSnapshots(infos []topics.SnapshotInfo, perPart, maxBytes int) [][]topics.SnapshotInfo {
	parts := [][]topics.SnapshotInfo{{}}
	size := 0
	for _, info := range infos {
		n := encodedSize(info)
		for n > maxBytes && (len(info.Paths) > 1 || len(info.Tags) > 0) {
			info.Paths, info.Tags = info.Paths[:(len(info.Paths)+1)/2], info.Tags[:len(info.Tags)/2]
			n = encodedSize(info)
		}
		last := len(parts) - 1
		if len(parts[last]) > 0 && (len(parts[last]) >= perPart || size+n > maxBytes) {
			parts = append(parts, nil)
			last, size = last+1, 0
		}
		parts[last] = append(parts[last], info)
		size += n
	}
	return parts
}

func encodedSize(info topics.SnapshotInfo) int {
	b, err := json.Marshal(info)
	if err != nil {
		return 0
	}
	return len(b) + 1 // the comma between array elements
}
