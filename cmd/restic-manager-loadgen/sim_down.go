package main

import (
	"encoding/json"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/topics"
)

// handleDown handles what the server sends on down/#. It runs on paho's
// goroutine, so it never waits: it publishes without waiting for PUBACKs
// and hands jobs to the agent's job goroutine. Everything is decoded and
// checked by topics, as the real agent does.
func (a *simAgent) handleDown(client mqtt.Client, m mqtt.Message) {
	t, err := topics.Parse(m.Topic())
	if err != nil || t.Host != a.id {
		a.warn("message on an unexpected topic %q", m.Topic())
		return
	}
	switch t.Kind {
	case topics.KindAck:
		var ack topics.Ack
		if err := topics.DecodeFrom(m.Payload(), a.id, &ack); err != nil {
			a.warn("ack: %v", err)
			return
		}
		a.out.ack(ack.Seqs)
		if ack.Resend {
			a.out.republish(client, time.Now().Add(time.Hour))
		}
	case topics.KindConfig:
		var c topics.Config
		if err := topics.DecodeFrom(m.Payload(), a.id, &c); err != nil {
			a.warn("config: %v", err)
			return
		}
		a.mu.Lock()
		newer := c.Version > a.applied
		if newer {
			a.applied = c.Version
			close(a.configNew)
			a.configNew = make(chan struct{})
		}
		a.mu.Unlock()
		if newer {
			a.publishStatus(client) // the real agent reports an applied config at once
		}
	case topics.KindCmd:
		var head struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(m.Payload(), &head) == nil && head.Type == topics.TypeUpgrade {
			a.warn("an agent upgrade was asked of a simulated agent; ignored")
			return
		}
		var cmd topics.Command
		if err := topics.DecodeFrom(m.Payload(), a.id, &cmd); err != nil {
			a.warn("cmd: %v", err)
			return
		}
		a.command(&cmd)
	}
}

// command journals a run command (a job id seen before never runs again:
// a finished one gets its terminal event again), answers "delivered" and
// queues the job; a cancel marks a job not yet finished.
func (a *simAgent) command(cmd *topics.Command) {
	now := time.Now()
	a.mu.Lock()
	j := a.jobs[cmd.Job]
	if cmd.Action == topics.CmdCancel {
		if j != nil {
			j.canceled.Store(true)
		}
		a.mu.Unlock()
		return
	}
	if j != nil {
		resend := j.finished && j.terminalAcked
		a.mu.Unlock()
		if resend {
			a.event(j, j.terminalState, j.result, nil)
		}
		return
	}
	j = &simJob{cmd: cmd, version: cmd.Version, rec: jobRecord{UID: cmd.Job, Host: a.id, Kind: string(cmd.Spec.Kind), RecvNS: now.UnixNano()}}
	a.jobs[cmd.Job] = j
	a.mu.Unlock()
	a.event(j, topics.JobDelivered, nil, func(at time.Time) { j.setDeliveredAck(at) })
	select {
	case a.queue <- j:
	default:
		a.warn("more than %d jobs queued; job %s dropped", cap(a.queue), cmd.Job)
	}
}

func (a *simAgent) warn(format string, args ...any) {
	if a.fl.logf != nil {
		a.fl.logf("agent %s: "+format, append([]any{a.id}, args...)...)
	}
}
