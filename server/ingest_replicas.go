package server

import "github.com/restic-manager/restic-manager/topics"

// Several server replicas share one external broker (#15). Each agent
// message has parts that must happen once in the whole cluster — it
// writes the store or sends something: a job event, a log batch, a
// snapshot report, an upgrade report, a hello's resends, a heartbeat's
// applied config version — and parts that every replica must see, because
// each keeps them in its own memory: presence (hello, heartbeat, Will),
// live progress, and the reply to a query that one of them asked and
// waits for. So a replica subscribes twice: through the share group for
// the first (each message to one replica: HandleShared), and on its own
// for the second (each message to every replica: Observe). A hello and a
// status come both ways, each way doing its part. The embedded broker
// serves one server, which does both parts of everything (HandleMessage).
//
// What every replica observes is idempotent and ordered by the agent's
// conn_gen, so replicas that see the same messages reach the same state
// (fleet_presence.go); their flushes to the store are guarded by conn_gen
// so a replica behind never regresses a host (fleet_presence_flush.go).

// handling names the parts of a message's handling a call does.
type handling uint8

const (
	// handleOnce: what must happen once in the cluster (writes, sends).
	handleOnce handling = 1 << iota
	// handleEach: what each replica keeps in memory.
	handleEach
	// handleAll: both, for a server that is the only one.
	handleAll = handleOnce | handleEach
)

// upRoutes says, per up topic, which parts of its handling there are and
// the filter of that topic for every host.
var upRoutes = []struct {
	kind   topics.Kind
	filter string
	parts  handling
}{
	{topics.KindHello, topics.AllHostsHelloFilter, handleAll},
	{topics.KindStatus, topics.AllHostsStatusFilter, handleAll},
	{topics.KindJobEvent, topics.AllHostsJobEventFilter, handleOnce},
	{topics.KindJobLog, topics.AllHostsJobLogFilter, handleOnce},
	{topics.KindSnapshots, topics.AllHostsSnapshotsFilter, handleOnce},
	{topics.KindUpgrade, topics.AllHostsUpgradeFilter, handleOnce},
	{topics.KindJobProgress, topics.AllHostsProgressFilter, handleEach},
	{topics.KindReply, topics.AllHostsReplyFilter, handleEach},
}

// SharedUpFilters are the up topics a replica takes through the share
// group, each message going to one replica of the group; HandleShared
// takes them.
func SharedUpFilters() []string { return upFilters(handleOnce) }

// ObservedUpFilters are the up topics every replica subscribes to on its
// own, each message going to every replica; Observe takes them.
func ObservedUpFilters() []string { return upFilters(handleEach) }

func upFilters(part handling) []string {
	var out []string
	for _, r := range upRoutes {
		if r.parts&part != 0 {
			out = append(out, r.filter)
		}
	}
	return out
}

// HandleShared takes an agent's message from the share group: it does what
// must happen once in the cluster (HandleMessage's writes and sends) and
// leaves the replica's own memory to Observe. The broker gives no
// connection serial: the agent's conn_gen stands in (HandleMessage, conn 0).
func (s *Service) HandleShared(topic string, payload []byte, clientID string) {
	s.handleMessage(topic, payload, clientID, 0, handleOnce)
}

// Observe takes an agent's message that every replica receives: it keeps
// presence, live progress and the replies this replica waits for, and
// writes nothing but the presence flush, which is guarded against replicas
// behind (fleet_presence_flush.go).
func (s *Service) Observe(topic string, payload []byte, clientID string) {
	s.handleMessage(topic, payload, clientID, 0, handleEach)
}

// routedHere says whether a message of kind k has a part of its handling in
// parts; one that has not is refused (a subscription wider than
// SharedUpFilters or ObservedUpFilters): handled here, its other part would
// be done twice or never.
func (s *Service) routedHere(k topics.Kind, topic, clientID string, parts handling) bool {
	for _, r := range upRoutes {
		if r.kind == k && r.parts&parts == 0 {
			s.reject(topic, clientID, "topic not expected on this subscription", nil)
			return false
		}
	}
	return true
}

// publishObserved publishes an event that each replica makes from what it
// observed itself (presence, a hello's versions, live progress): every
// replica publishes its own, so the event bridge must not forward it too,
// or each page would hear it once per replica. It carries the mark the
// bridge gives what it received (core_cluster.go), which keeps it local.
func (s *Service) publishObserved(e Event) {
	e.remote = true
	s.events.Publish(e)
}
