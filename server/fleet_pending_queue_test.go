package server_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// queueRig announces test machines with unique connection serials.
type queueRig struct {
	t     *testing.T
	s     *server.Service
	pub   *servertest.Publisher
	clock *servertest.Clock
	conn  uint64
}

func newQueueRig(t *testing.T, opts server.AnnounceOptions) *queueRig {
	s, pub, clock := announceFixture(t, server.Options{Announce: opts})
	return &queueRig{t: t, s: s, pub: pub, clock: clock}
}

// announce runs agent's whole exchange from addr (an IP) and returns the
// answer's state ("" when the server stayed silent).
func (r *queueRig) announce(agent *servertest.PendingAgent, addr string) string {
	r.t.Helper()
	r.conn++
	st := agent.Announce(r.t, r.s, r.pub, r.conn, fmt.Sprintf("%s:%d", addr, 40000+r.conn%20000))
	if st == nil {
		return ""
	}
	return st.State
}

// waiting maps each waiting machine's client ID to its row.
func (r *queueRig) waiting() map[string]server.PendingHost {
	r.t.Helper()
	out := map[string]server.PendingHost{}
	for _, p := range mustListPending(r.t, r.s) {
		out[p.ClientID] = p
	}
	return out
}

// perAddr counts the waiting machines of each source address.
func perAddr(list map[string]server.PendingHost) map[string]int {
	out := map[string]int{}
	for _, p := range list {
		out[p.SourceAddr]++
	}
	return out
}

// TestAnnounceFloodLeavesRoom is the attack that filled the queue: 120
// announces from 12 addresses in 6 seconds, against the default cap of 100.
// Real machines were refused for 24 hours; now a machine from a new address
// still gets in, no address holds more than its share, and a flood that
// goes on pushes out its own machines rather than the real one.
func TestAnnounceFloodLeavesRoom(t *testing.T) {
	r := newQueueRig(t, server.AnnounceOptions{})
	flood := func(round int) {
		for i := range 120 {
			addr := fmt.Sprintf("203.0.113.%d", 10+i%12)
			if st := r.announce(servertest.NewPendingAgent(t, fmt.Sprintf("flood-%d-%d", round, i)), addr); st != topics.AnnouncePending {
				t.Fatalf("round %d, flood announce %d from %s: %q", round, i, addr, st)
			}
			r.clock.Advance(50 * time.Millisecond)
		}
	}
	flood(1)
	list := r.waiting()
	if len(list) != 100 {
		t.Fatalf("%d machines wait after the flood, want the cap (100)", len(list))
	}
	for addr, n := range perAddr(list) {
		if n > 10 {
			t.Errorf("%s holds %d rows, more than its share of 10", addr, n)
		}
	}
	q, err := r.s.PendingQueue(t.Context())
	if err != nil || !q.Full() || q.Cap != 100 || q.PerAddress != 10 || q.Evicted != 20 {
		t.Fatalf("queue after the flood: full %v cap %d share %d evicted %d replaced %d (%v)", q.Full(), q.Cap, q.PerAddress, q.Evicted, q.Replaced, err)
	}

	real := servertest.NewPendingAgent(t, "till-7")
	if st := r.announce(real, "198.51.100.77"); st != topics.AnnouncePending {
		t.Fatalf("a real machine from a new address after the flood: %q", st)
	}
	if p, ok := r.waiting()[real.Client]; !ok || p.Hostname != "till-7" || p.SourceAddr != "198.51.100.77" {
		t.Fatalf("the real machine is not listed: %+v", p)
	}

	// The flood goes on (a minute later, past the hello limit): it evicts
	// its own machines, never the real one, and stays within its shares.
	r.clock.Advance(time.Minute)
	flood(2)
	list = r.waiting()
	if _, ok := list[real.Client]; !ok {
		t.Fatal("the continuing flood pushed the real machine out")
	}
	if len(list) != 100 {
		t.Fatalf("%d machines wait, want 100", len(list))
	}
	for addr, n := range perAddr(list) {
		if n > 10 {
			t.Errorf("%s holds %d rows, more than its share of 10", addr, n)
		}
	}
}

// TestPendingQueuePerAddressShare: an address at its share (the smaller of
// 10 and a quarter of the cap) that announces another machine replaces its
// own longest-unseen row, not anyone else's and not its oldest announce:
// a machine that announced again recently stays.
func TestPendingQueuePerAddressShare(t *testing.T) {
	r := newQueueRig(t, server.AnnounceOptions{MaxPending: 20}) // share: 5
	neighbour := servertest.NewPendingAgent(t, "neighbour")
	r.announce(neighbour, "192.0.2.50")
	var mine []*servertest.PendingAgent
	for i := range 5 {
		a := servertest.NewPendingAgent(t, fmt.Sprintf("nat-%d", i))
		mine = append(mine, a)
		if st := r.announce(a, "192.0.2.1"); st != topics.AnnouncePending {
			t.Fatalf("machine %d: %q", i, st)
		}
		r.clock.Advance(time.Second)
	}
	// The first machine announces again (as a waiting agent does every 15
	// minutes): now the second is the longest unseen.
	if st := r.announce(mine[0], "192.0.2.1"); st != topics.AnnouncePending {
		t.Fatalf("re-announce: %q", st)
	}
	r.clock.Advance(time.Minute)

	extra := servertest.NewPendingAgent(t, "nat-extra")
	if st := r.announce(extra, "192.0.2.1"); st != topics.AnnouncePending {
		t.Fatalf("the 6th machine of the address: %q", st)
	}
	list := r.waiting()
	if n := perAddr(list)["192.0.2.1"]; n != 5 {
		t.Fatalf("the address holds %d rows, want its share of 5", n)
	}
	for _, a := range []*servertest.PendingAgent{mine[0], mine[2], mine[3], mine[4], extra, neighbour} {
		if _, ok := list[a.Client]; !ok {
			t.Errorf("%s was dropped", a.Hostname)
		}
	}
	if _, ok := list[mine[1].Client]; ok {
		t.Error("the longest-unseen machine of the address was kept")
	}
	if q, _ := r.s.PendingQueue(t.Context()); q.Replaced != 1 || q.Evicted != 0 || q.PerAddress != 5 || q.Full() {
		t.Errorf("queue: replaced %d evicted %d share %d full %v", q.Replaced, q.Evicted, q.PerAddress, q.Full())
	}
	// The dropped machine was not told to give up; announcing again, it
	// gets a row back (and its address replaces its longest-unseen again).
	if st := mine[1].LastStatus(t, r.pub); st == nil || st.State != topics.AnnouncePending {
		t.Errorf("the dropped machine was told %+v", st)
	}
	if st := r.announce(mine[1], "192.0.2.1"); st != topics.AnnouncePending {
		t.Fatalf("the dropped machine announcing again: %q", st)
	}
	if _, ok := r.waiting()[mine[1].Client]; !ok {
		t.Error("the dropped machine did not get a row back")
	}
}

// TestPendingQueueEvictsLongestUnseen: a full queue drops the
// longest-unseen waiting row, taken from the address holding the most; it
// never drops an accepted row whose agent has not collected its
// credentials, nor a rejection (that would let a rejected key back in),
// and neither counts against the cap.
func TestPendingQueueEvictsLongestUnseen(t *testing.T) {
	r := newQueueRig(t, server.AnnounceOptions{MaxPending: 12}) // share: 3
	ctx := t.Context()

	// An accepted machine that has not connected yet, and a rejected one.
	approved, rejected := servertest.NewPendingAgent(t, "approved"), servertest.NewPendingAgent(t, "rejected")
	r.announce(approved, "192.0.2.200")
	r.announce(rejected, "192.0.2.201")
	rows := r.waiting()
	if _, err := r.s.AcceptPendingHost(ctx, server.CLIActor(), rows[approved.Client].ID, "approved-1", nil); err != nil {
		t.Fatal(err)
	}
	if err := r.s.RejectPendingHost(ctx, server.CLIActor(), rows[rejected.Client].ID); err != nil {
		t.Fatal(err)
	}

	// 12 waiting: a lone machine first (the longest unseen of all), then
	// five addresses with 3, 3, 2, 2 and 1 rows, one second apart.
	lone := servertest.NewPendingAgent(t, "lone")
	r.announce(lone, "198.51.100.9")
	plan := []struct {
		addr string
		n    int
	}{{"192.0.2.1", 3}, {"192.0.2.2", 3}, {"192.0.2.3", 2}, {"192.0.2.4", 2}, {"192.0.2.5", 1}}
	byAddr := map[string][]*servertest.PendingAgent{}
	for _, p := range plan {
		for i := range p.n {
			r.clock.Advance(time.Second)
			a := servertest.NewPendingAgent(t, fmt.Sprintf("%s-%d", p.addr, i))
			byAddr[p.addr] = append(byAddr[p.addr], a)
			if st := r.announce(a, p.addr); st != topics.AnnouncePending {
				t.Fatalf("%s: %q", a.Hostname, st)
			}
		}
	}
	if n := len(r.waiting()); n != 12 {
		t.Fatalf("%d waiting, want 12", n)
	}
	// 192.0.2.1's first machine announces again: 192.0.2.1 and 192.0.2.2
	// both hold the most (3); of their rows, 192.0.2.1's second is now the
	// longest unseen.
	r.clock.Advance(time.Second)
	r.announce(byAddr["192.0.2.1"][0], "192.0.2.1")

	r.clock.Advance(time.Second)
	newcomer := servertest.NewPendingAgent(t, "newcomer")
	if st := r.announce(newcomer, "198.51.100.10"); st != topics.AnnouncePending {
		t.Fatalf("newcomer at the cap: %q", st)
	}
	list := r.waiting()
	if len(list) != 12 {
		t.Fatalf("%d waiting, want the cap (12)", len(list))
	}
	gone := byAddr["192.0.2.1"][1]
	if _, ok := list[gone.Client]; ok {
		t.Fatal("the longest-unseen row of the biggest addresses was not the one dropped")
	}
	for _, a := range []*servertest.PendingAgent{lone, newcomer, byAddr["192.0.2.1"][0], byAddr["192.0.2.1"][2], byAddr["192.0.2.2"][0]} {
		if _, ok := list[a.Client]; !ok {
			t.Errorf("%s was dropped", a.Hostname)
		}
	}

	// Five more newcomers from new addresses take the biggest holders'
	// rows (one from 192.0.2.2, then one each from the four addresses
	// holding two), never the lone machine; once every address holds one
	// row, the next newcomer drops the longest unseen: the lone machine.
	for i := range 5 {
		r.clock.Advance(time.Second)
		r.announce(servertest.NewPendingAgent(t, fmt.Sprintf("more-%d", i)), fmt.Sprintf("198.51.100.%d", 20+i))
	}
	list = r.waiting()
	if _, ok := list[lone.Client]; !ok {
		t.Error("the lone machine went while bigger addresses still held more than one row")
	}
	for addr, n := range perAddr(list) {
		if n > 1 {
			t.Errorf("%s still holds %d rows while newcomers were dropped for room", addr, n)
		}
	}
	r.clock.Advance(time.Second)
	r.announce(servertest.NewPendingAgent(t, "last-straw"), "198.51.100.99")
	if _, ok := r.waiting()[lone.Client]; ok {
		t.Error("with one row per address, the longest-unseen (the lone machine) was not the one dropped")
	}

	// The accepted and rejected rows are still there and still work.
	if st := r.announce(approved, "192.0.2.200"); st != topics.AnnounceApproved {
		t.Errorf("the accepted machine lost its credentials: %q", st)
	}
	if st := r.announce(rejected, "192.0.2.201"); st != topics.AnnounceRejected {
		t.Errorf("the rejected key got back in: %q", st)
	}
	var kept int
	if err := r.s.DB().Get(&kept, `SELECT COUNT(*) FROM pending_hosts WHERE state IN (?, ?)`, server.PendingStateApproved, server.PendingStateRejected); err != nil || kept != 2 {
		t.Errorf("%d accepted/rejected rows, want 2 (%v)", kept, err)
	}
}

// TestRejectPendingHostsInBulk: an admin rejects many machines at once, by
// ID and by source address; one audit row lists them; each is told and its
// key refused; machines already decided on are skipped; operators may not.
func TestRejectPendingHostsInBulk(t *testing.T) {
	r := newQueueRig(t, server.AnnounceOptions{})
	ctx := t.Context()
	var flood []*servertest.PendingAgent
	for i := range 4 {
		a := servertest.NewPendingAgent(t, fmt.Sprintf("bot-%d", i))
		flood = append(flood, a)
		r.announce(a, "203.0.113.66")
	}
	picked1, picked2, bystander := servertest.NewPendingAgent(t, "odd-1"), servertest.NewPendingAgent(t, "odd-2"), servertest.NewPendingAgent(t, "real")
	r.announce(picked1, "192.0.2.11")
	r.announce(picked2, "192.0.2.12")
	r.announce(bystander, "192.0.2.13")
	list := r.waiting()
	ids := []int64{list[picked1.Client].ID, list[picked2.Client].ID}

	if _, err := r.s.RejectPendingHosts(ctx, server.Actor{Name: "op", Role: server.RoleOperator}, ids, ""); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("operator bulk reject: %v", err)
	}
	if _, err := r.s.RejectPendingHosts(ctx, server.CLIActor(), nil, ""); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Fatalf("nothing named: %v", err)
	}
	if n := len(r.waiting()); n != 7 {
		t.Fatalf("a refused bulk reject changed something: %d waiting", n)
	}

	got, err := r.s.RejectPendingHosts(ctx, server.CLIActor(), append(ids, 99999), "203.0.113.66")
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	for _, a := range append(flood, picked1, picked2) {
		want = append(want, list[a.Client].ID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("rejected %v, want %v", got, want)
	}
	left := r.waiting()
	if len(left) != 1 || left[bystander.Client].ID == 0 {
		t.Fatalf("left waiting: %+v", left)
	}
	e := lastAuditRow(t, r.s)
	if e.Action != "pending_host.reject_many" || e.Target != "6 machines" || !strings.Contains(e.Details, `"count":6`) ||
		!strings.Contains(e.Details, `"source_addr":"203.0.113.66"`) || !strings.Contains(e.Details, fmt.Sprint(want[0])) {
		t.Fatalf("audit row %+v", e)
	}
	for _, a := range append(flood, picked1) {
		if st := a.LastStatus(t, r.pub); st == nil || st.State != topics.AnnounceRejected {
			t.Errorf("%s was told %+v", a.Hostname, st)
		}
	}
	r.clock.Advance(time.Minute)
	if st := r.announce(flood[0], "203.0.113.66"); st != topics.AnnounceRejected {
		t.Errorf("a bulk-rejected key announcing again: %q", st)
	}
	if _, err := r.s.RejectPendingHosts(ctx, server.CLIActor(), ids, ""); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Errorf("rejecting them again: %v", err)
	}
}
