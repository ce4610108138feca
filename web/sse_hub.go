package web

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
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
	// Jobs (see sse_jobs.go).
	sseJobRow      = "job-"         // + job ID, job lists: that job's row cells
	sseJobsChanged = "jobs-changed" // job lists: a new job exists, re-read the list
	sseJob         = "job"          // job page: its header, state and summary
	sseJobLog      = "job-log"      // job page: the log lines after the last one sent
	sseJobProgress = "job-progress" // job page: the progress bar
	// sseSnapshotsChanged tells a host page to re-read its snapshot list
	// (its restore forms depend on the viewer's role, like the pending panel).
	sseSnapshotsChanged = "snapshots-changed"
	// sseConfigChanged tells a host page that its source groups or
	// schedules changed, or that one of its jobs did (a schedule's "Last:");
	// the Sources and Schedules lists re-read themselves (their buttons
	// depend on the viewer's role).
	sseConfigChanged = "config-changed"
)

// sseMessage is one event for one browser. id, when not zero, goes out as
// the event's id: on a log message, the number of its last line, so that a
// browser reconnecting on its own says where it was (Last-Event-ID).
type sseMessage struct {
	event, data string
	id          uint64
}

// sseClient is one open event stream and what its page shows: a fleet page
// (dashboard, enroll) sets none of hostID, jobID and jobs; a host page sets
// hostID, a job page jobID, the jobs list jobs.
type sseClient struct {
	hostID string
	jobID  int64
	jobs   bool
	out    chan sseMessage

	// Job pages only. lastLine is the last log line the page has; after
	// join only the hub's goroutine touches it. canRun and csrf render the
	// cancel button for this viewer.
	lastLine uint64
	canRun   bool
	csrf     string

	// Fleet pages only: the hub's fleetSeq when the page began reading
	// what it shows (hasSeen: the page said so, ?seen=).
	seen    uint64
	hasSeen bool

	// Who opened the stream (sse_users.go): when that user's access
	// changes, the hub pokes recheck and the stream checks its session
	// and role again at once.
	userID  int64
	role    server.Role
	recheck chan struct{}
}

// fleet reports whether the stream belongs to a fleet page.
func (cl *sseClient) fleet() bool { return cl.hostID == "" && cl.jobID == 0 && !cl.jobs }

// clientBuffer is how many messages a slow browser may fall behind before it
// is dropped; it reconnects and re-reads the page (app.js), losing nothing.
const clientBuffer = 32

// hub turns domain events into HTML fragments, rendered once per batch of
// events and fanned out to every open stream. It drains every queued event
// before rendering, so a burst (a thousand agents reconnecting) costs one
// host query per batch instead of one per event. Log lines and progress go
// out per tick instead (sse_jobs.go).
type hub struct {
	svc  *server.Service
	h    *handler
	log  *slog.Logger
	done chan struct{}

	mu      sync.Mutex
	clients map[*sseClient]struct{}

	finished    chan struct{}
	unsubscribe func()

	// joined lists the jobs whose pages just joined (under mu); kicks wakes
	// the hub's goroutine to send them the log lines stored between
	// rendering the page and opening the stream. A set plus a one-slot
	// wake-up loses no join, however many arrive at once.
	joined map[int64]bool
	kicks  chan struct{}
	// maxJobID is the newest job the job lists were told about: an update
	// for a newer one means a new row, so the lists re-read themselves.
	// Only the hub's goroutine touches it.
	maxJobID int64
	// usersGen is the users generation last seen (sse_users.go); only the
	// hub's goroutine touches it.
	usersGen int64
	// fleetSeq counts the batches that sent fleet pages anything. It moves
	// before the batch's recipients are chosen, so a fleet page rendered
	// before a batch and joining after its sends sees it moved (join).
	fleetSeq atomic.Uint64
}

func newHub(svc *server.Service, h *handler, log *slog.Logger) *hub {
	events, unsubscribe := svc.Events().Subscribe()
	hb := &hub{svc: svc, h: h, log: log, done: make(chan struct{}), finished: make(chan struct{}),
		clients: make(map[*sseClient]struct{}), unsubscribe: unsubscribe,
		joined: map[int64]bool{}, kicks: make(chan struct{}, 1)}
	go hb.run(events)
	return hb
}

// close stops the hub; open streams see done and end.
func (hb *hub) close() {
	close(hb.done)
	hb.unsubscribe()
	<-hb.finished
}

// join registers a stream (it makes cl.out). A job page is sent the log
// lines it lacks at once.
func (hb *hub) join(cl *sseClient) *sseClient {
	cl.out = make(chan sseMessage, clientBuffer)
	hb.mu.Lock()
	hb.clients[cl] = struct{}{}
	if cl.jobID != 0 {
		hb.joined[cl.jobID] = true
	}
	hb.mu.Unlock()
	if cl.fleet() && cl.hasSeen && hb.fleetSeq.Load() > cl.seen {
		// Fleet pages were sent something between the page's reads and
		// this join: it re-reads itself (its pending and token panels too).
		for _, ev := range []string{sseFleetChanged, ssePendingChanged, sseTokensChanged} {
			cl.out <- sseMessage{event: ev, data: "1"} // a new buffer: room for three
		}
	}
	if cl.jobID != 0 {
		select {
		case hb.kicks <- struct{}{}:
		default: // a wake-up is already pending; it takes this join too
		}
	}
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

// clientsWhere lists the streams that match, for per-stream work done
// outside the lock.
func (hb *hub) clientsWhere(match func(*sseClient) bool) []*sseClient {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	var out []*sseClient
	for cl := range hb.clients {
		if match(cl) {
			out = append(out, cl)
		}
	}
	return out
}

// batch is what a run of events changed.
type batch struct {
	resync    bool            // hosts appeared or events were lost
	fleet     bool            // fleet pages re-read: stored health words changed (#15)
	tokens    bool            // enrollment tokens changed
	pending   bool            // machines waiting for approval changed
	hosts     map[string]bool // hosts whose row and vitals changed
	vitals    map[string]bool // hosts whose vitals alone changed (repository, last backup)
	snapshots map[string]bool // hosts whose snapshot list changed
	config    map[string]bool // hosts whose source groups, schedules or caps changed
	runs      map[string]bool // hosts with jobs that changed state (their rows' "Last:")
	jobs      map[int64]bool  // jobs created or changed state
	// Log lines and progress are not sent per event: they move from the
	// batch into the hub's tick set (see jobTick).
	logs     map[int64]bool
	progress map[int64]bool
	users    map[int64]bool // users whose access changed; 0: any (sse_users.go)
}

func newBatch() batch {
	return batch{hosts: map[string]bool{}, vitals: map[string]bool{}, snapshots: map[string]bool{},
		config: map[string]bool{}, runs: map[string]bool{},
		jobs: map[int64]bool{}, logs: map[int64]bool{}, progress: map[int64]bool{}, users: map[int64]bool{}}
}

func (b *batch) add(ev server.Event) {
	switch ev.Kind {
	case server.EventHostCreated, server.EventHostRemoved:
		b.resync = true
	case server.EventHostHealth:
		// A page filtered by health may now hold other hosts: fleet pages
		// re-read themselves (at most once per health round, 2 s).
		b.fleet = true
		if ev.HostID != "" {
			b.hosts[ev.HostID] = true
		}
	case server.EventResync:
		b.resync, b.tokens, b.pending = true, true, true
		b.users[0] = true
	case server.EventUserChanged:
		b.users[ev.UserID] = true
	case server.EventTokenChanged:
		b.tokens = true
	case server.EventPendingChanged:
		b.pending = true
	case server.EventJobUpdated:
		b.jobs[ev.JobID] = true
		if ev.HostID != "" {
			b.runs[ev.HostID] = true
		}
	case server.EventConfigChanged:
		b.hosts[ev.HostID], b.config[ev.HostID] = true, true
	case server.EventJobLog:
		b.logs[ev.JobID] = true
	case server.EventJobProgress:
		b.progress[ev.JobID] = true
	case server.EventRepositoryChanged:
		b.vitals[ev.HostID] = true
	case server.EventSnapshotsChanged:
		b.snapshots[ev.HostID] = true
	default: // host.updated, host.presence, and later kinds about a host
		if ev.HostID != "" {
			b.hosts[ev.HostID] = true
		}
	}
}

// jobTick is how often log lines and progress go out: a job printing
// thousands of lines a second costs one log query per tick and one message
// per watching page, not one per stored batch.
const jobTick = 200 * time.Millisecond

func (hb *hub) run(events <-chan server.Event) {
	defer close(hb.finished)
	ticked := newJobTicks()
	var tick <-chan time.Time
	usersPoll := time.NewTicker(usersPollEvery)
	defer usersPoll.Stop()
	arm := func() {
		if tick == nil && !ticked.empty() {
			tick = time.After(jobTick)
		}
	}
	for {
		select {
		case <-hb.done:
			return
		case <-hb.kicks:
			hb.mu.Lock()
			ids := hb.joined
			hb.joined = map[int64]bool{}
			hb.mu.Unlock()
			for id := range ids {
				hb.joinedJobPage(id)
				ticked.logs[id] = true
			}
			arm()
		case <-tick:
			tick = nil
			ticked = hb.flushJobs(ticked)
			arm()
		case <-usersPoll.C:
			hb.pollUsers()
		case ev, ok := <-events:
			if !ok {
				return
			}
			b := newBatch()
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
			if b.resync {
				hb.resyncJobPages(&ticked, &b)
			}
			ticked.take(&b)
			hb.publish(b)
			hb.recheckUsers(b.users)
			arm()
		}
	}
}

// publish renders what changed, once, and sends it to the streams that show it.
func (hb *hub) publish(b batch) {
	fleetPages := (*sseClient).fleet
	if b.tokens || b.pending || b.resync || b.fleet || len(b.hosts) > 0 || len(b.runs) > 0 || len(b.vitals) > 0 {
		hb.fleetSeq.Add(1)
	}
	if b.tokens {
		hb.send(fleetPages, sseMessage{event: sseTokensChanged, data: "1"})
	}
	if b.pending {
		hb.send(fleetPages, sseMessage{event: ssePendingChanged, data: "1"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if b.resync {
		// Every page re-reads itself; rows rendered now would be redundant.
		// Job pages are sent their header again instead (resyncJobPages).
		hb.send(func(*sseClient) bool { return true }, sseMessage{event: sseFleetChanged, data: "1"})
		hb.publishJobs(ctx, b.jobs, nil)
		return
	}
	if b.fleet {
		hb.send(fleetPages, sseMessage{event: sseFleetChanged, data: "1"})
	}
	// Jobs first: a finished backup changes its host's vitals too.
	hb.publishJobs(ctx, b.jobs, b.vitals)
	for hostID := range b.snapshots {
		hb.send(func(cl *sseClient) bool { return cl.hostID == hostID }, sseMessage{event: sseSnapshotsChanged, data: "1"})
	}
	hb.send(func(cl *sseClient) bool { return cl.hostID != "" && (b.config[cl.hostID] || b.runs[cl.hostID]) },
		sseMessage{event: sseConfigChanged, data: "1"})

	fleet := len(hb.clientsWhere(fleetPages))
	watched := make(map[string]bool)
	for _, cl := range hb.clientsWhere(func(cl *sseClient) bool { return b.hosts[cl.hostID] || b.vitals[cl.hostID] }) {
		watched[cl.hostID] = true
	}
	// Rows change with the host and with its jobs ("Last:", "Next:").
	rows := fleet > 0 && (len(b.hosts) > 0 || len(b.runs) > 0)
	if len(watched) == 0 && !rows {
		return
	}
	// Only the hosts that changed are read (#15): a fleet of 10,000
	// costs the same per event as one of ten.
	changed := make(map[string]bool, len(b.hosts)+len(b.runs)+len(watched))
	for _, set := range []map[string]bool{b.hosts, watched} {
		for id := range set {
			changed[id] = true
		}
	}
	if rows {
		for id := range b.runs {
			changed[id] = true
		}
	}
	hosts, err := hb.svc.ListHostsByID(ctx, slices.Collect(maps.Keys(changed)))
	if err != nil {
		hb.log.Error("event hub: list hosts", "err", err)
		return
	}
	if rows {
		hb.publishRows(ctx, hosts, b)
	}
	hb.publishVitals(ctx, watched, hosts)
}

// publishRows renders the changed hosts' dashboard rows, with one read of
// their plans for all of them, and the summary strip.
func (hb *hub) publishRows(ctx context.Context, hosts []server.Host, b batch) {
	fleetPages := (*sseClient).fleet
	ids := make([]string, len(hosts))
	for i := range hosts {
		ids[i] = hosts[i].ID
	}
	plans, err := hb.svc.HostPlans(ctx, ids)
	if err != nil {
		hb.log.Error("event hub: fleet plans", "err", err)
	}
	for _, h := range hosts {
		if b.hosts[h.ID] || b.runs[h.ID] {
			v := hb.h.withAgentStatus(ctx, withPlans([]hostView{newHostView(h)}, plans))[0]
			hb.sendFragment(fleetPages, sseHostRow+h.ID, "dashboard", "host_cells", v)
		}
	}
	if len(b.hosts) > 0 {
		counts, err := hb.svc.CountFleet(ctx)
		if err != nil {
			hb.log.Error("event hub: count hosts", "err", err)
			return
		}
		hb.sendFragment(fleetPages, sseSummary, "dashboard", "summary", newFleetSummary(counts))
	}
}

// publishVitals renders the vitals of each watched host for its pages.
func (hb *hub) publishVitals(ctx context.Context, watched map[string]bool, known []server.Host) {
	byID := make(map[string]server.Host, len(known))
	for _, h := range known {
		byID[h.ID] = h
	}
	for id := range watched {
		host, ok := byID[id]
		if !ok {
			got, err := hb.svc.GetHost(ctx, id)
			if err != nil {
				continue // revoked meanwhile: its page hears fleet-changed
			}
			host = *got
		}
		v, err := hb.h.loadVitals(ctx, host)
		if err != nil {
			hb.log.Error("event hub: host vitals", "host", id, "err", err)
			continue
		}
		hb.sendFragment(func(cl *sseClient) bool { return cl.hostID == id }, sseVitals, "host", "host_vitals", v)
	}
}

func (hb *hub) sendFragment(to func(*sseClient) bool, event, pageName, tmpl string, data any) {
	var buf bytes.Buffer
	if err := hb.h.tpl.fragment(&buf, pageName, tmpl, data); err != nil {
		hb.log.Error("event hub: render", "template", tmpl, "err", err)
		return
	}
	hb.send(to, sseMessage{event: event, data: buf.String()})
}

// send queues m for every stream that to selects. A stream whose buffer is
// full is closed rather than waited for: its browser reconnects and re-reads.
func (hb *hub) send(to func(*sseClient) bool, m sseMessage) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for cl := range hb.clients {
		if to(cl) {
			hb.queue(cl, m)
		}
	}
}

// sendTo queues m for one stream.
func (hb *hub) sendTo(cl *sseClient, m sseMessage) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if _, ok := hb.clients[cl]; ok {
		hb.queue(cl, m)
	}
}

// queue needs hb.mu held.
func (hb *hub) queue(cl *sseClient, m sseMessage) {
	select {
	case cl.out <- m:
	default:
		delete(hb.clients, cl)
		close(cl.out)
	}
}
