package servertest

import "sync"

// Publisher stands in for the broker (server.Publisher): it records what the
// domain publishes, in order.
type Publisher struct {
	// Hook, when set, sees every message as it is published, before
	// Publish returns (e.g. to check that what an ack names is stored).
	// Set it before the Service publishes anything (before Run, before
	// hosts come online), or use SetHook.
	Hook func(PublishedMessage)

	mu   sync.Mutex
	msgs []PublishedMessage
}

// SetHook sets Hook while the Service may be publishing (its background
// work publishes monitor states and configs at any time).
func (p *Publisher) SetHook(h func(PublishedMessage)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Hook = h
}

// PublishedMessage is one message a Publisher recorded.
type PublishedMessage struct {
	Topic   string
	Payload []byte
	Retain  bool
	QoS     byte
}

// Publish records a message.
func (p *Publisher) Publish(topic string, payload []byte, retain bool, qos byte) error {
	m := PublishedMessage{Topic: topic, Payload: append([]byte(nil), payload...), Retain: retain, QoS: qos}
	p.mu.Lock()
	hook := p.Hook
	p.mu.Unlock()
	if hook != nil {
		hook(m)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, m)
	return nil
}

// On returns the messages published to topic, oldest first.
func (p *Publisher) On(topic string) []PublishedMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []PublishedMessage
	for _, m := range p.msgs {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}
