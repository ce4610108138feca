package agent

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/topics"
)

// maxDownQueue bounds the commands and configs waiting for the dispatcher.
// It is far above what a server sends (a few per job); beyond it messages
// are dropped with a log line, and the server sends them again after the
// next hello because the jobs stay unfinished on its side.
const maxDownQueue = 10000

// handleDown receives everything published to this host's down/# topics,
// on paho's callback goroutine, which must never block (paho answers
// pings on the same path): acks are applied at once (one fsync), commands
// and configs are queued for the dispatcher. Whatever arrives is untrusted:
// it is parsed, validated and checked against this host, and anything
// malformed is logged and dropped, never a crash.
func (a *Agent) handleDown(m mqtt.Message) {
	defer func() {
		if r := recover(); r != nil {
			a.log.Error("bug: panic while handling a message; message dropped", "topic", clipText(m.Topic()), "panic", fmt.Sprint(r))
		}
	}()
	t, err := topics.Parse(m.Topic())
	if err != nil {
		a.log.Warn("dropped message on an unknown topic", "topic", clipText(m.Topic()), "err", err)
		return
	}
	if t.Host == a.cfg.HostID && t.Kind == topics.KindQuery {
		a.handleQuery(m.Payload(), time.Now()) // #14: not queued behind commands (query.go)
		return
	}
	if t.Host != a.cfg.HostID || (t.Kind != topics.KindCmd && t.Kind != topics.KindConfig && t.Kind != topics.KindAck) {
		a.log.Warn("dropped message on a topic that is not this host's down topic", "topic", clipText(m.Topic()))
		return
	}
	if t.Kind == topics.KindAck {
		a.handleAck(m.Payload())
		return
	}
	a.inbox.push(a, downItem{kind: t.Kind, payload: bytes.Clone(m.Payload()), duplicate: m.Duplicate()})
}

// handleAck applies a down/ack: the server has stored the entries it
// names, so they leave the outbox for good; Resend asks for everything
// still pending again (the server saw a gap).
func (a *Agent) handleAck(payload []byte) {
	var ack topics.Ack
	if err := topics.DecodeFrom(payload, a.cfg.HostID, &ack); err != nil {
		a.log.Warn("dropped malformed message", "topic", topics.AckTopic(a.cfg.HostID), "bytes", len(payload), "err", clipText(err.Error()))
		return
	}
	if len(ack.Seqs) > 0 {
		if err := a.outbox.Ack(ack.Seqs...); err != nil {
			// Not applied: the entries are sent again and acked again.
			a.log.Error("cannot record the server's ack in the outbox", "err", err)
		}
		a.sender.acked(ack.Seqs)
		select {
		case a.roomFreed <- struct{}{}:
		default:
		}
	}
	if ack.Resend {
		a.log.Info("the server asked for everything not yet acknowledged again", "pending", a.outbox.Stats().Pending)
		a.sender.resendAll()
	}
	a.log.Debug("ack", "seqs", len(ack.Seqs), "resend", ack.Resend)
}

// downItem is one command or config waiting for the dispatcher.
type downItem struct {
	kind      topics.Kind
	payload   []byte
	duplicate bool
}

// downQueue hands down messages from paho's callback to the dispatcher in
// arrival order (a config before the job that needs it).
type downQueue struct {
	mu     sync.Mutex
	items  []downItem
	signal chan struct{}
}

func newDownQueue() *downQueue { return &downQueue{signal: make(chan struct{}, 1)} }

func (q *downQueue) push(a *Agent, it downItem) {
	q.mu.Lock()
	full := len(q.items) >= maxDownQueue
	if !full {
		q.items = append(q.items, it)
	}
	q.mu.Unlock()
	if full {
		a.log.Warn("dropped a message: too many commands waiting; the server sends them again after the next hello", "kind", it.kind.String())
		return
	}
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// take returns every queued item and empties the queue.
func (q *downQueue) take() []downItem {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}
