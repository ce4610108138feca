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
	msg := &topics.JobProgress{
		Envelope:       topics.NewEnvelope(topics.TypeJobProgress, a.cfg.HostID),
		Job:            j.id,
		Percent:        p.Percent,
		FilesDone:      p.FilesDone,
		FilesTotal:     p.FilesTotal,
		BytesDone:      p.BytesDone,
		BytesTotal:     p.BytesTotal,
		ETASeconds:     p.ETASeconds,
		ElapsedSeconds: p.ElapsedSeconds,
		CurrentFile:    clipUTF8(p.CurrentFile, topics.MaxSpecField, "..."),
		ErrorCount:     p.ErrorCount,
	}
	data, err := topics.Encode(msg)
	if err != nil {
		a.log.Debug("progress not sent", "job", j.id, "err", err)
		return
	}
	c.Publish(topics.JobProgressTopic(a.cfg.HostID, j.id), 0, false, data)
}
