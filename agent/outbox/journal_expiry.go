package outbox

import "time"

// The journal file only grows as commands arrive; expiry keeps it bounded.
// Finished records older than Keep are forgotten in memory, and the file is
// rewritten (atomically, see logFile.rewrite) once forgotten records make
// up most of it. Forgetting is checked at most hourly; the size on every
// write.

const sweepEvery = time.Hour

// maybeSweep runs sweep when it is due. A failed rewrite is logged, not
// returned: the record just written is durable either way.
func (j *Journal) maybeSweep() {
	if j.opts.now().Sub(j.lastSweep) < sweepEvery && !j.bloated() {
		return
	}
	if err := j.sweep(); err != nil {
		j.opts.Logger.Warn("journal: could not rewrite the journal file; will retry", "err", err)
	}
}

// sweep forgets expired records and rewrites the file if it is bloated.
func (j *Journal) sweep() error {
	now := j.opts.now()
	j.lastSweep = now
	cutoff := now.Add(-j.opts.Keep)
	j.liveBytes = 0
	for id, r := range j.recs {
		if r.Done && r.Finished.Before(cutoff) {
			delete(j.recs, id)
			continue
		}
		j.liveBytes += recordBytes(r)
	}
	if !j.bloated() {
		return nil
	}
	recs := make([]Record, 0, len(j.recs))
	for _, r := range j.recs {
		recs = append(recs, *r)
	}
	sortRecords(recs)
	frames := make([][]byte, 0, 2*len(recs))
	for _, r := range recs {
		frames = append(frames, encodeJournal(recBegin, r.Begun, r.ID, r.Detail))
		if r.State != nil {
			frames = append(frames, encodeJournal(recUpdate, r.Updated, r.ID, r.State))
		}
		if r.Done {
			frames = append(frames, encodeJournal(recFinish, r.Finished, r.ID, r.Outcome))
		}
	}
	return j.file.rewrite(magicJournal, frames)
}

func (j *Journal) bloated() bool {
	return j.file.size > magicLen+2*j.liveBytes+journalRewriteSlack
}

// recordBytes is the size of r's frames in a rewritten file.
func recordBytes(r *Record) int64 {
	n := int64(frameHeader + 1 + 9 + len(r.ID) + len(r.Detail))
	if r.State != nil {
		n += int64(frameHeader + 1 + 9 + len(r.ID) + len(r.State))
	}
	if r.Done {
		n += int64(frameHeader + 1 + 9 + len(r.ID) + len(r.Outcome))
	}
	return n
}
