package agent

import (
	"encoding/json"
	"time"

	"github.com/restic-manager/restic-manager/agent/outbox"
	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// maxSnapshotPartBytes bounds the encoded snapshots of one report part:
// well under the broker's and the server's 256 KiB message limit, with
// room for the envelope.
const maxSnapshotPartBytes = 128 << 10

// reportSnapshotsAfter sends the host's snapshot list when a job changed
// it (a backup that made a snapshot, a forget that removed some) or was
// about it (a snapshots job). The extra `restic snapshots` run is part of
// the job's log; if it fails, the job's outcome stays what it was.
func (a *Agent) reportSnapshotsAfter(j *job, op restic.Op, res *restic.Result) {
	switch {
	case op.Kind == restic.KindSnapshots:
		if res.Outcome == restic.OutcomeSucceeded {
			a.sendSnapshotReport(j, res.Snapshots, time.Now())
		}
		return
	case op.Kind == restic.KindBackup && res.Summary != nil && res.Summary.SnapshotID != "":
	case op.Kind == restic.KindForget && !op.Forget.DryRun && len(restic.RemovedIDs(res.Forget)) > 0:
	default:
		return
	}
	if j.ctx.Err() != nil {
		return // canceled or stopping: the next job's report brings the list up to date
	}
	j.log.agentf("listing the repository's snapshots for the server")
	list, err := a.runner.Run(j.ctx, restic.Op{Kind: restic.KindSnapshots, Repository: op.Repository, OnLine: j.log.resticLine})
	switch {
	case err != nil:
		j.log.agentf("could not list the snapshots (%v); the server's list is updated after the next backup", err)
	case list.Outcome != restic.OutcomeSucceeded:
		j.log.agentf("could not list the snapshots (%s); the server's list is updated after the next backup", list.Reason)
	default:
		a.sendSnapshotReport(j, list.Snapshots, time.Now())
	}
}

// sendSnapshotReport stores the list as one report in as many parts as it
// needs (topics.MaxSnapshotsPerPart snapshots and maxSnapshotPartBytes
// each), sharing one report id.
func (a *Agent) sendSnapshotReport(j *job, snaps []restic.Snapshot, takenAt time.Time) {
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
			Job:       j.id,
			Snapshots: part,
		}
		if _, err := a.store(outbox.KindResult, topics.SnapshotsTopic(a.cfg.HostID), func(seq uint64) ([]byte, error) {
			msg.Seq = seq
			return topics.Encode(msg)
		}); err != nil {
			a.log.Error("cannot store the snapshot report", "job", j.id, "part", i+1, "err", err)
			j.log.agentf("could not send the snapshot list to the server (%v)", err)
			return
		}
	}
	j.log.agentf("sent the list of %d snapshots to the server", len(infos))
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
