package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// mochiLogLevel is the least severe level mochi's own lines are let through
// at. Mochi logs every connection at Info/Debug; our hooks log what matters
// (connects, refusals, denials) in our own words, so mochi only gets to speak
// when something is off.
const mochiLogLevel = slog.LevelWarn

// newMochiLogger wraps our logger for mochi: a level floor, a component
// attribute, and redaction. Mochi puts whole packets into some of its lines
// (server.go receivePacket "error processing packet" pk=..., hooks.go
// OnPublish "publish packet error" packet=..., OnWill will=...), which would
// print payloads and, for CONNECT, passwords. Those values are replaced by a
// summary without payload or credentials.
func newMochiLogger(base *slog.Logger) *slog.Logger {
	return slog.New(&redactingHandler{inner: base.Handler(), min: mochiLogLevel}).With("component", "mochi")
}

type redactingHandler struct {
	inner slog.Handler
	min   slog.Level
}

func (h *redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.inner.Enabled(ctx, l)
}

func (h *redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	ourDenial := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && errors.Is(err, packets.ErrNotAuthorized) {
			ourDenial = true
		}
		out.AddAttrs(redact(a))
		return true
	})
	if ourDenial && r.Message == "publish packet error" {
		// hooks.go OnPublish logs at Error when our ACL hook answers an MQTT 5
		// publish with "not authorized"; the ACL hook already logged it.
		return nil
	}
	return h.inner.Handle(ctx, out)
}

func (h *redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redact(a)
	}
	return &redactingHandler{inner: h.inner.WithAttrs(red), min: h.min}
}

func (h *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{inner: h.inner.WithGroup(name), min: h.min}
}

// redact replaces values that can carry payloads or credentials.
func redact(a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindAny {
		return a
	}
	switch v := a.Value.Any().(type) {
	case packets.Packet:
		return slog.String(a.Key, packetSummary(&v))
	case *packets.Packet:
		if v != nil {
			return slog.String(a.Key, packetSummary(v))
		}
	case mqtt.Will:
		return slog.String(a.Key, fmt.Sprintf("will topic=%q qos=%d payload=%dB", clip(v.TopicName), v.Qos, len(v.Payload)))
	case *mqtt.Will:
		if v != nil {
			return slog.String(a.Key, fmt.Sprintf("will topic=%q qos=%d payload=%dB", clip(v.TopicName), v.Qos, len(v.Payload)))
		}
	case []byte:
		return slog.String(a.Key, fmt.Sprintf("%dB", len(v)))
	}
	return a
}

func packetSummary(pk *packets.Packet) string {
	return fmt.Sprintf("type=%s topic=%q qos=%d id=%d payload=%dB",
		packets.PacketNames[pk.FixedHeader.Type], clip(pk.TopicName), pk.FixedHeader.Qos, pk.PacketID, len(pk.Payload))
}
