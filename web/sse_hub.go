package web

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// Server-sent event names the pages listen for (see the templates and app.js).
const (
	sseHostRow       = "host-"          // + host ID, fleet pages: that host's table row
	sseSummary       = "summary"        // fleet pages: the summary strip
	sseFleetChanged  = "fleet-changed"  // hosts added or events lost: re-read the page
	sseTokensChanged = "tokens-changed" // enrollment tokens created, used or revoked
	sseVitals        = "vitals"         // host page: that host's vitals
	// ssePendingChanged tells fleet pages that the machines waiting for
	// approval changed; the Pending hosts panel re-reads itself. The hub
	// cannot push the panel itself: its buttons depend on the viewer's role.
	ssePendingChanged = "pending-changed"
)

// sseMessage is one event for one browser.
type sseMessage struct{ event, data string }

// sseClient is one open event stream. hostID is empty for fleet pages
// (dashboard, enroll) and the host's ID on a host page.
type sseClient struct {
	hostID string
	out    chan sseMessage
}

// clientBuffer is how many messages a slow browser may fall behind before it
// is dropped; it reconnects and re-reads the page (app.js), losing nothing.
const clientBuffer = 32

// hub turns domain events into HTML fragments, rendered once per batch of
// events and fanned out to every open stream. It drains every queued event
// before rendering, so a burst (a thousand agents reconnecting) costs one
// host query per batch instead of one per event.
type hub struct {
	svc  *server.Service
	h    *handler
	log  *slog.Logger
	done chan struct{}

	mu      sync.Mutex
	clients map[*sseClient]struct{}

	finished    chan struct{}
	unsubscribe func()
}

func newHub(svc *server.Service, h *handler, log *slog.Logger) *hub {
	events, unsubscribe := svc.Events().Subscribe()
	hb := &hub{svc: svc, h: h, log: log, done: make(chan struct{}), finished: make(chan struct{}),
		clients: make(map[*sseClient]struct{}), unsubscribe: unsubscribe}
	go hb.run(events)
	return hb
}

// close stops the hub; open streams see done and end.
func (hb *hub) close() {
	close(hb.done)
	hb.unsubscribe()
	<-hb.finished
}

func (hb *hub) join(hostID string) *sseClient {
	cl := &sseClient{hostID: hostID, out: make(chan sseMessage, clientBuffer)}
	hb.mu.Lock()
	hb.clients[cl] = struct{}{}
	hb.mu.Unlock()
	return cl
}

func (hb *hub) leave(cl *sseClient) {
	hb.mu.Lock()
	delete(hb.clients, cl)
	hb.mu.Unlock()
}

func (hb *hub) clientCount() int {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	return len(hb.clients)
}

// batch is what a run of events changed.
type batch struct {
	resync  bool            // hosts appeared or events were lost
	tokens  bool            // enrollment tokens changed
	pending bool            // machines waiting for approval changed
	hosts   map[string]bool // hosts whose row or vitals changed
}

func (b *batch) add(ev server.Event) {
	switch ev.Kind {
	case server.EventHostCreated, server.EventHostRemoved:
		b.resync = true
	case server.EventResync:
		b.resync, b.tokens, b.pending = true, true, true
	case server.EventTokenChanged:
		b.tokens = true
	case server.EventPendingChanged:
		b.pending = true
	default: // host.updated, host.presence, and later kinds about a host
		if ev.HostID != "" {
			b.hosts[ev.HostID] = true
		}
	}
}

func (hb *hub) run(events <-chan server.Event) {
	defer close(hb.finished)
	for {
		select {
		case <-hb.done:
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			b := batch{hosts: make(map[string]bool)}
			b.add(ev)
		drain:
			for range 4096 {
				select {
				case ev, ok := <-events:
					if !ok {
						break drain
					}
					b.add(ev)
				default:
					break drain
				}
			}
			hb.publish(b)
		}
	}
}

// publish renders what changed, once, and sends it to the streams that show it.
func (hb *hub) publish(b batch) {
	hb.mu.Lock()
	fleet, watched := 0, make(map[string]bool)
	for cl := range hb.clients {
		if cl.hostID == "" {
			fleet++
		} else if b.hosts[cl.hostID] {
			watched[cl.hostID] = true
		}
	}
	hb.mu.Unlock()

	if b.tokens {
		hb.send(func(cl *sseClient) bool { return cl.hostID == "" }, sseMessage{sseTokensChanged, "1"})
	}
	if b.pending {
		hb.send(func(cl *sseClient) bool { return cl.hostID == "" }, sseMessage{ssePendingChanged, "1"})
	}
	if b.resync {
		// Every page re-reads itself; rows rendered now would be redundant.
		hb.send(func(*sseClient) bool { return true }, sseMessage{sseFleetChanged, "1"})
		return
	}
	if len(b.hosts) == 0 || (fleet == 0 && len(watched) == 0) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hosts, err := hb.svc.ListHosts(ctx)
	if err != nil {
		hb.log.Error("event hub: list hosts", "err", err)
		return
	}
	if fleet > 0 {
		fleetPages := func(cl *sseClient) bool { return cl.hostID == "" }
		for _, h := range hosts {
			if b.hosts[h.ID] {
				hb.sendFragment(fleetPages, sseHostRow+h.ID, "dashboard", "host_cells", newHostView(h))
			}
		}
		hb.sendFragment(fleetPages, sseSummary, "dashboard", "summary", summarize(hosts))
	}
	for _, h := range hosts {
		if watched[h.ID] {
			id := h.ID
			hb.sendFragment(func(cl *sseClient) bool { return cl.hostID == id }, sseVitals, "host", "host_vitals", newHostView(h))
		}
	}
}

func (hb *hub) sendFragment(to func(*sseClient) bool, event, pageName, tmpl string, data any) {
	var buf bytes.Buffer
	if err := hb.h.tpl.fragment(&buf, pageName, tmpl, data); err != nil {
		hb.log.Error("event hub: render", "template", tmpl, "err", err)
		return
	}
	hb.send(to, sseMessage{event, buf.String()})
}

// send queues m for every stream that to selects. A stream whose buffer is
// full is closed rather than waited for: its browser reconnects and re-reads.
func (hb *hub) send(to func(*sseClient) bool, m sseMessage) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for cl := range hb.clients {
		if !to(cl) {
			continue
		}
		select {
		case cl.out <- m:
		default:
			delete(hb.clients, cl)
			close(cl.out)
		}
	}
}
