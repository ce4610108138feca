package server

import "sync"

// Event kinds published on the Bus.
const (
	EventHostCreated  = "host.created"
	EventHostRemoved  = "host.removed"  // revoked: gone from the fleet
	EventHostUpdated  = "host.updated"  // versions, name, ...
	EventHostPresence = "host.presence" // online/offline changed
	EventTokenChanged = "token.changed" // enrollment token created, used or revoked
	// EventPendingChanged: the list of machines waiting for approval changed
	// (one announced, was accepted, rejected or expired).
	EventPendingChanged = "pending.changed"
	// EventHostOverdue: a host entered or left "overdue" (#13,
	// fleet_health_watch.go); EventHostOffline: it entered or left
	// "offline past its own threshold". Event.Health says which way:
	// Health.Overdue (or Health.OfflineAlert) is true on entering, false on
	// leaving. One event per transition, also across restarts.
	EventHostOverdue = "host.overdue"
	EventHostOffline = "host.offline"
	// EventHostHealth: the health word stored for the host changed (#15,
	// fleet_health_store.go), so lists filtered by health may hold other
	// hosts now. HostID is "" when many hosts changed at once.
	EventHostHealth = "host.health"
)

// Event tells listeners (SSE streams) that something changed; they re-read
// what they show. It carries IDs, never secrets.
type Event struct {
	Kind   string
	HostID string
	JobID  int64 // for the job.* kinds
	UserID int64 // for EventUserChanged; 0 means any user may have changed
	// Health is the host's name and health when it changed, for
	// EventHostOverdue and EventHostOffline (nil for the other kinds).
	Health *HealthChange
	// Ended: for EventJobUpdated, this change stored the job's end (a
	// terminal state) — one event per job, on the replica that stored it,
	// so per-job figures (web's job-duration metric) count each job once.
	// Not carried across replicas.
	Ended bool
	// remote: not for the other replicas — another replica published it
	// (core_cluster.go's bridge), or every replica publishes its own
	// (publishObserved, ingest_replicas.go).
	remote bool
}

// Remote reports whether the event is not this replica's own: another
// replica published it (the event bridge, core_cluster.go), or every
// replica publishes its own copy (publishObserved). A counter that is
// summed over replicas (a job's duration in /metrics) counts only the
// others.
func (e Event) Remote() bool { return e.remote }

// Bus fans events out to subscribers. A slow subscriber loses events instead
// of blocking the publisher; it gets a Kind "resync" event when it next has
// room, so it knows to re-read everything.
type Bus struct {
	mu   sync.Mutex
	subs map[chan Event]*subState
}

type subState struct{ dropped bool }

// NewBus makes an empty bus.
func NewBus() *Bus { return &Bus{subs: make(map[chan Event]*subState)} }

// EventResync is sent to a subscriber that missed events.
const EventResync = "resync"

// Subscribe returns a channel of events and a function that ends the subscription.
func (b *Bus) Subscribe() (<-chan Event, func()) { return b.subscribe(64) }

// subscribe is Subscribe with a buffer of size events.
func (b *Bus) subscribe(size int) (<-chan Event, func()) {
	ch := make(chan Event, size)
	b.mu.Lock()
	b.subs[ch] = &subState{}
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, ch)
			b.mu.Unlock()
			close(ch)
		})
	}
}

// Publish sends e to every subscriber without blocking.
func (b *Bus) Publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch, st := range b.subs {
		if st.dropped {
			select {
			case ch <- Event{Kind: EventResync}:
				st.dropped = false
			default:
				continue
			}
		}
		select {
		case ch <- e:
		default:
			st.dropped = true
		}
	}
}
