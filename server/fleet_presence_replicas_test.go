package server_test

import (
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// replicaPresence is one replica's presence on an external broker: what it
// observes goes through Observe, and another replica's flushes are played
// by writing the store directly.
type replicaPresence struct {
	t     *testing.T
	s     *server.Service
	host  string
	pub   *servertest.Publisher
	clock *servertest.Clock
}

func newReplicaPresence(t *testing.T) *replicaPresence {
	clock := servertest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	s := servertest.MustOpenService(t, server.Options{Now: clock.Now, Presence: server.PresenceOptions{OfflineAfter: time.Minute}})
	r := &replicaPresence{t: t, s: s, host: enrollTestHost(t, s, "replicated"), pub: &servertest.Publisher{}, clock: clock}
	s.Presence().SetExternalBroker()
	s.Presence().SetPublisher(r.pub)
	return r
}

func (r *replicaPresence) observe(topic string, m topics.Payload) {
	r.t.Helper()
	data, err := topics.Encode(m)
	if err != nil {
		r.t.Fatal(err)
	}
	r.s.Observe(topic, data, r.host)
}

func (r *replicaPresence) hello(gen uint64, version string) {
	r.observe(topics.HelloTopic(r.host), &topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, r.host),
		AgentVersion: version, OS: "linux", Arch: "amd64", BootID: "b", ConnGen: gen})
}

func (r *replicaPresence) status(gen uint64, state string) {
	r.observe(topics.StatusTopic(r.host), &topics.Status{Envelope: topics.NewEnvelope(topics.TypeStatus, r.host),
		State: state, BootID: "b", ConnGen: gen})
}

func (r *replicaPresence) flush() {
	r.t.Helper()
	if err := r.s.Presence().Flush(r.t.Context()); err != nil {
		r.t.Fatal(err)
	}
}

type storedPresence struct {
	Online  bool   `db:"online"`
	ConnGen uint64 `db:"conn_gen"`
	Agent   string `db:"agent_version"`
}

func (r *replicaPresence) stored() storedPresence {
	r.t.Helper()
	var row storedPresence
	if err := r.s.DB().Get(&row, `SELECT online, conn_gen, agent_version FROM hosts WHERE id = ?`, r.host); err != nil {
		r.t.Fatal(err)
	}
	return row
}

func (r *replicaPresence) online() bool {
	r.t.Helper()
	h, err := r.s.GetHost(r.t.Context(), r.host)
	if err != nil {
		r.t.Fatal(err)
	}
	return h.Online
}

// monitorEvents counts the host.online and host.offline events on the
// monitor feed.
func (r *replicaPresence) monitorEvents() int {
	n := 0
	for _, m := range r.pub.On(topics.MonitorEventsTopic()) {
		var e topics.MonitorEvent
		if topics.Decode(m.Payload, &e) == nil && e.Host == r.host && (e.Event == "host.online" || e.Event == "host.offline") {
			n++
		}
	}
	return n
}

// A replica that is behind — it missed a host's newer connection while
// another replica stored it — never writes the older connection's presence
// over the newer one's, and the monitor feed hears a change only from the
// replica whose flush made it.
func TestReplicaFlushNeverRegressesANewerConnection(t *testing.T) {
	r := newReplicaPresence(t)
	r.hello(8, "1.0")
	r.flush()
	if st := r.stored(); !st.Online || st.ConnGen != 8 {
		t.Fatalf("after hello 8: %+v", st)
	}
	if n := r.monitorEvents(); n != 1 {
		t.Fatalf("%d monitor events after the flush that took the host online, want 1", n)
	}

	// Another replica saw the agent reconnect (hello 9) and stored it.
	if _, err := r.s.DB().Exec(`UPDATE hosts SET online = 1, conn_gen = 9, agent_version = '2.0' WHERE id = ?`, r.host); err != nil {
		t.Fatal(err)
	}
	// This one sees connection 8's Will (it missed hello 9): offline in
	// its memory, but the store keeps connection 9's online.
	r.status(8, topics.StateOffline)
	if r.online() {
		t.Fatal("the Will of the connection this replica knows did not take the host offline in its memory")
	}
	r.flush()
	if st := r.stored(); !st.Online || st.ConnGen != 9 || st.Agent != "2.0" {
		t.Fatalf("a replica behind regressed the host: stored %+v", st)
	}
	if n := r.monitorEvents(); n != 1 {
		t.Fatalf("%d monitor events, want still 1: this replica's flush changed nothing", n)
	}

	// Connection 9's heartbeat: this replica takes the connection it missed
	// the hello of, and is in step again.
	r.status(9, topics.StateOnline)
	if !r.online() {
		t.Fatal("a heartbeat of a newer connection was ignored")
	}
	r.flush()
	if n := r.monitorEvents(); n != 1 {
		t.Fatalf("%d monitor events, want still 1: the host was online in the store already", n)
	}
	// Connection 9's Will: this replica's flush takes it offline, and says so.
	r.status(9, topics.StateOffline)
	r.flush()
	if st := r.stored(); st.Online || st.ConnGen != 9 {
		t.Fatalf("after connection 9's Will: %+v", st)
	}
	if n := r.monitorEvents(); n != 2 {
		t.Fatalf("%d monitor events, want 2 (host.offline from the flush that stored it)", n)
	}
	// A late hello of connection 8 does not lower the stored connection.
	r.hello(8, "1.0")
	r.flush()
	if st := r.stored(); st.ConnGen != 9 || st.Agent != "2.0" {
		t.Fatalf("a late hello of an older connection was stored: %+v", st)
	}
}

// With an external broker Start takes the stored presence over: agents
// stayed connected to the broker while this replica was down, and another
// replica may be keeping them online. A host that went away meanwhile is
// swept OfflineAfter after the start, not at once; its Will still counts.
func TestReplicaStartAdoptsStoredPresence(t *testing.T) {
	r := newReplicaPresence(t)
	gone := enrollTestHost(t, r.s, "gone")
	if _, err := r.s.DB().Exec(`UPDATE hosts SET online = 1, conn_gen = 5, last_seen = ? WHERE id IN (?, ?)`,
		r.clock.Now().Add(-time.Hour), r.host, gone); err != nil {
		t.Fatal(err)
	}
	if err := r.s.Presence().Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{r.host, gone} {
		h, err := r.s.GetHost(t.Context(), id)
		if err != nil || !h.Online {
			t.Fatalf("%s after Start: online %v, %v; want it kept online", id, h != nil && h.Online, err)
		}
	}
	r.clock.Advance(30 * time.Second)
	r.status(5, topics.StateOnline) // r.host heartbeats; gone stays silent
	r.s.Presence().Sweep()
	if h, _ := r.s.GetHost(t.Context(), gone); !h.Online {
		t.Fatal("a host adopted at Start was swept before OfflineAfter had passed since")
	}
	r.clock.Advance(31 * time.Second)
	r.s.Presence().Sweep()
	if h, _ := r.s.GetHost(t.Context(), gone); h.Online {
		t.Fatal("a silent adopted host stayed online past OfflineAfter")
	}
	if !r.online() {
		t.Fatal("the heartbeating host was swept")
	}
	r.status(5, topics.StateOffline)
	if r.online() {
		t.Fatal("the Will of the adopted connection did not take the host offline")
	}
}

// The events a replica makes from what it observed itself (presence, a
// hello's versions) stay on that replica: every replica observes the same
// agents and publishes its own, so the event bridge forwarding them too
// would have every page hear each change once per replica. Events of the
// store (a host enrolled) still cross.
func TestObservedEventsStayOnTheirReplica(t *testing.T) {
	t.Parallel()
	rs := startReplicas(t, 2)
	a, b := rs[0].s, rs[1].s
	waitFor(t, "both bridges listening", func() bool { return a.Bridged() && b.Bridged() })
	la, lb := subscribeLog(t, a), subscribeLog(t, b)
	a.Presence().SetExternalBroker()
	host := enrollTestHost(t, a, "observed")
	hello, err := topics.Encode(&topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, host), AgentVersion: "1",
		OS: "linux", Arch: "amd64", BootID: "b", ConnGen: 1})
	if err != nil {
		t.Fatal(err)
	}
	a.Observe(topics.HelloTopic(host), hello, host)
	waitFor(t, "the observing replica to announce the hello on its own bus", func() bool {
		return la.count(server.EventHostPresence, host, 0) == 1 && la.count(server.EventHostUpdated, host, 0) == 1
	})
	// Notifications reach a listener in order: once a's next event is at
	// b, a bridged presence event would be there before it.
	a.Events().Publish(server.Event{Kind: server.EventHostCreated, HostID: "marker"})
	waitFor(t, "replica b to hear a's marker", func() bool { return lb.count(server.EventHostCreated, "marker", 0) == 1 })
	if n := lb.count(server.EventHostCreated, host, 0); n != 1 {
		t.Fatalf("the enrollment's event reached replica b %d times, want once", n)
	}
	for _, kind := range []string{server.EventHostPresence, server.EventHostUpdated} {
		if n := lb.count(kind, host, 0); n != 0 {
			t.Fatalf("replica a's observed %s crossed the bridge (%d at replica b): b observes the agent itself", kind, n)
		}
	}
}
