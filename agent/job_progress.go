package agent

import (
	"sync"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// startProgress wires op's OnProgress to topics.JobProgress messages,
// published with QoS 0 and not through the outbox: progress is only worth
// having live, and a lost one is replaced by the next (restic's callback
// already comes at most once a second). Publishing happens on a goroutine
// of its own, so a slow network never holds up restic's output; when
// several updates pile up, only the newest goes out. Offline, they are
// dropped. The returned function stops it.
func (a *Agent) startProgress(j *job, op *restic.Op) (stop func()) {
	var (
		mu     sync.Mutex
		latest *restic.Progress
	)
	signal, done, stopped := make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	op.OnProgress = func(p restic.Progress) {
		mu.Lock()
		latest = &p
		mu.Unlock()
		select {
		case signal <- struct{}{}:
		default:
		}
	}
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-signal:
			}
			mu.Lock()
			p := latest
			mu.Unlock()
			a.publishProgress(j, p)
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

func (a *Agent) publishProgress(j *job, p *restic.Progress) {
	c := a.sender.current()
	if c == nil || p == nil {
		return
	}
	data, err := topics.Encode(progressMessage(a.cfg.HostID, j.id, p))
	if err != nil {
		a.log.Debug("progress not sent", "job", j.id, "err", err)
		return
	}
	c.Publish(topics.JobProgressTopic(a.cfg.HostID, j.id), 0, false, data)
}

// An estimate of the time left is passed on only once restic has worked
// etaMinElapsed seconds and done etaMinPercent, and not at 100 % (restic
// is then finishing: saving the tree, the index, the snapshot). restic's
// first estimates come from a fraction of a second of work, or, when it
// gives none, from the elapsed time over a percentage of a total its
// scanner is still growing: a 3-second backup was promised "about 21 min
// 43 s".
const (
	etaMinElapsed = 5 // seconds
	etaMinPercent = 1.0
)

// etaSeconds is p's estimate of the time left if it means something yet,
// else -1 (unknown).
func etaSeconds(p *restic.Progress) int64 {
	if p.ETASeconds < 0 || p.ElapsedSeconds < etaMinElapsed || p.Percent < etaMinPercent || p.Percent >= 100 {
		return -1
	}
	return p.ETASeconds
}

// progressMessage is the wire form of p for job on host.
func progressMessage(host, job string, p *restic.Progress) *topics.JobProgress {
	return &topics.JobProgress{
		Envelope:       topics.NewEnvelope(topics.TypeJobProgress, host),
		Job:            job,
		Percent:        p.Percent,
		FilesDone:      p.FilesDone,
		FilesTotal:     p.FilesTotal,
		BytesDone:      p.BytesDone,
		BytesTotal:     p.BytesTotal,
		ETASeconds:     etaSeconds(p),
		ElapsedSeconds: p.ElapsedSeconds,
		CurrentFile:    clipUTF8(p.CurrentFile, topics.MaxSpecField, "..."),
		ErrorCount:     p.ErrorCount,
	}
}
