package agent

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/kardianos/service"
)

// SystemLogHandler wraps the agent's log handler so that, once the agent
// runs as a Windows service (RunService attaches the Event Log), its
// warnings and errors also reach the Event Log, where an admin looks for a
// service's trouble; a service has no console for the rest. Every record
// still goes to next. Outside a Windows service nothing is attached and it
// only passes records on (systemd and launchd keep stderr already).
func SystemLogHandler(next slog.Handler) slog.Handler {
	return &systemLogHandler{next: next, sink: new(atomic.Pointer[systemLogSink])}
}

// systemLogSink holds the service manager's logger.
type systemLogSink struct{ log service.Logger }

type systemLogHandler struct {
	next   slog.Handler
	sink   *atomic.Pointer[systemLogSink] // shared by the handlers WithAttrs and WithGroup derive
	group  string                         // "g1.g2." for the attributes that follow
	prefix string                         // " k=v" of WithAttrs, already formatted
}

// attachSystemLog makes h's warnings and errors go to log as well. It is a
// no-op for a handler that is not a SystemLogHandler.
func attachSystemLog(h slog.Handler, log service.Logger) bool {
	s, ok := h.(*systemLogHandler)
	if ok {
		s.sink.Store(&systemLogSink{log: log})
	}
	return ok
}

func (h *systemLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *systemLogHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.next.Handle(ctx, r)
	sink := h.sink.Load()
	if sink == nil || r.Level < slog.LevelWarn {
		return err
	}
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.prefix)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.group, a)
		return true
	})
	if r.Level >= slog.LevelError {
		_ = sink.log.Error(b.String())
	} else {
		_ = sink.log.Warning(b.String())
	}
	return err
}

func (h *systemLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range attrs {
		appendAttr(&b, h.group, a)
	}
	return &systemLogHandler{next: h.next.WithAttrs(attrs), sink: h.sink, group: h.group, prefix: b.String()}
}

func (h *systemLogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &systemLogHandler{next: h.next.WithGroup(name), sink: h.sink, group: h.group + name + ".", prefix: h.prefix}
}

// appendAttr writes " key=value", quoting a value that has spaces or
// quotes, as slog's text handler does.
func appendAttr(b *strings.Builder, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		g := group
		if a.Key != "" {
			g += a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			appendAttr(b, g, ga)
		}
		return
	}
	v := a.Value.String()
	if v == "" || strings.ContainsAny(v, " \t\r\n\"=") {
		v = strconv.Quote(v)
	}
	b.WriteString(" " + group + a.Key + "=" + v)
}
