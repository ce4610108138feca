package agent

import (
	"fmt"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/topics"
)

// downMessage is what this agent version understands of a message on
// down/#: the envelope. Commands, desired config and acks get their own
// payload types (and handlers) in later issues.
type downMessage struct {
	topics.Envelope
}

// Validate checks the envelope with whatever type the message claims; the
// caller checks the type against the topic.
func (m *downMessage) Validate() error {
	if m.Type == "" {
		return fmt.Errorf("message without type")
	}
	return m.Envelope.Validate(m.Type)
}

// handleDown receives everything published to this host's down/# topics.
// Whatever arrives is untrusted: it is parsed, validated and checked against
// this host, and anything malformed is logged and dropped, never a crash.
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
	if t.Host != a.cfg.HostID || (t.Kind != topics.KindCmd && t.Kind != topics.KindConfig && t.Kind != topics.KindAck) {
		a.log.Warn("dropped message on a topic that is not this host's down topic", "topic", clipText(m.Topic()))
		return
	}
	var msg downMessage
	if err := topics.DecodeFrom(m.Payload(), a.cfg.HostID, &msg); err != nil {
		a.log.Warn("dropped malformed message", "topic", m.Topic(), "bytes", len(m.Payload()), "err", clipText(err.Error()))
		return
	}
	a.log.Info(fmt.Sprintf("received %s, not handled yet by this agent version", t.Kind),
		"topic", m.Topic(), "type", clipText(msg.Type), "id", clipText(msg.ID), "duplicate", m.Duplicate())
}
