package topics

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ProtocolVersion is the envelope version this build speaks. A receiver
// rejects messages with a higher version (it cannot know what they mean) and
// accepts older ones it still understands.
const ProtocolVersion = 1

// MaxPayload bounds every message body we decode (the broker's max packet size
// is a separate, outer limit).
const MaxPayload = 256 << 10

// Message types, the envelope's "type" field.
const (
	TypeHello       = "hello"
	TypeStatus      = "status"
	TypeMonitorHost = "monitor.host"
	TypeMonitorEvt  = "monitor.event"
)

// Envelope is the header every message carries (DESIGN §3). Payload types embed
// it, so its fields sit at the top level of the JSON object next to the body.
type Envelope struct {
	V    int       `json:"v"`
	ID   string    `json:"id"`
	Type string    `json:"type"`
	TS   time.Time `json:"ts"`
	Host string    `json:"host"`
}

// NewEnvelope fills an envelope for a message of type typ from host h, stamped now.
func NewEnvelope(typ, h string) Envelope {
	return Envelope{V: ProtocolVersion, ID: NewMessageID(), Type: typ, TS: time.Now().UTC(), Host: h}
}

// Env returns the envelope itself; it lets generic code reach the header of
// any payload type.
func (e *Envelope) Env() *Envelope { return e }

// Validate checks the header: version, id, type, timestamp and host.
func (e *Envelope) Validate(wantType string) error {
	switch {
	case e.V < 1:
		return errors.New("missing protocol version")
	case e.V > ProtocolVersion:
		return fmt.Errorf("protocol version %d is newer than this build understands (%d)", e.V, ProtocolVersion)
	case e.ID == "" || len(e.ID) > 64:
		return errors.New("missing or oversized message id")
	case e.Type != wantType:
		return fmt.Errorf("message type %q, want %q", clip(e.Type), wantType)
	case e.TS.IsZero():
		return errors.New("missing timestamp")
	case e.Host != "" && !ValidHostID(e.Host):
		return fmt.Errorf("invalid host id %q", clip(e.Host))
	}
	return nil
}

// Payload is implemented by every message type in this package.
type Payload interface {
	Env() *Envelope
	// Validate checks the whole message, header included.
	Validate() error
}

// Encode marshals p after validating it, so nothing invalid leaves a process.
func Encode(p Payload) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("encode %T: %w", p, err)
	}
	return json.Marshal(p)
}

// Decode unmarshals untrusted bytes into p and validates them. Unknown fields
// are ignored (a newer peer may add some); trailing data, oversized input and
// anything failing validation is an error.
func Decode(data []byte, p Payload) error {
	if len(data) > MaxPayload {
		return fmt.Errorf("payload of %d bytes exceeds %d", len(data), MaxPayload)
	}
	// A log batch is read in one pass where it can be (joblog_decode.go);
	// the rest, and every batch that decoder leaves, by Unmarshal, not a
	// Decoder: it refuses trailing data all the same, and reads the
	// payload where it is instead of copying it into a buffer grown in
	// steps (a 32 KiB log batch was copied about seven times).
	if m, ok := p.(*JobLog); !ok || !decodeJobLog(data, m) {
		if err := json.Unmarshal(data, p); err != nil {
			return fmt.Errorf("decode %T: %w", p, err)
		}
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("invalid %T: %w", p, err)
	}
	return nil
}

// DecodeFrom is Decode plus the check every receiver needs: the envelope's host
// must be the host the topic names (and so the client the broker authenticated).
func DecodeFrom(data []byte, host string, p Payload) error {
	if err := Decode(data, p); err != nil {
		return err
	}
	if got := p.Env().Host; got != host {
		return fmt.Errorf("envelope host %q does not match topic host %q", clip(got), host)
	}
	return nil
}
