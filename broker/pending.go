package broker

import (
	"strconv"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// A pending client (p_...) has no secret: any well-formed pending ID gets in
// (the key proof happens inside the announce exchange). So what one can hold
// is bounded here, where nothing about it is known yet:
//   - its session ends with its connection (endWithConnection): nothing is
//     kept for it after it leaves, whatever clean-session flag or session
//     expiry it asked for;
//   - it must ask for a keepalive no longer than Config.MaxPendingKeepalive
//     (authHook), so mochi closes it when it goes silent;
//   - at most Config.MaxPendingPerAddr are connected at once from one
//     address and Config.MaxPending in all (pendingSlots).

// endWithConnection makes the session of cl end with its connection: MQTT
// 3.1.1 clean session on, MQTT 5 session expiry 0. Mochi reads both when the
// connection ends (server.go attachClient "expire"), and a session taken
// over by a later connection of the same ID is not inherited either
// (inheritClientSession looks at the old session's clean flag). An MQTT 5
// client is not told: it learns from "session present" being false.
func endWithConnection(cl *mqtt.Client) {
	cl.Properties.Clean = true
	cl.Properties.Props.SessionExpiryInterval = 0
	cl.Properties.Props.SessionExpiryIntervalFlag = false
}

// pendingSlots counts the pending clients connected now, per source address
// and in all. A slot is taken when a pending CONNECT is accepted and given
// back when that connection's goroutine ends (listener.serveConn), on every
// path, a panic or a failed CONNACK write included.
type pendingSlots struct {
	perAddr, total int // <= 0: no limit

	mu     sync.Mutex
	byAddr map[string]int
	n      int
}

func newPendingSlots(perAddr, total int) *pendingSlots {
	return &pendingSlots{perAddr: perAddr, total: total, byAddr: map[string]int{}}
}

// take gives tc a slot for address ip, or returns the refusal when a cap is
// reached: "server unavailable", not counted against the address, because
// the client did nothing wrong and should come back later.
func (p *pendingSlots) take(tc *trackedConn, ip string) *refusal {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.perAddr > 0 && p.byAddr[ip] >= p.perAddr {
		return unavailable("too many pending clients from this address (limit "+strconv.Itoa(p.perAddr)+")", nil)
	}
	if p.total > 0 && p.n >= p.total {
		return unavailable("too many pending clients (limit "+strconv.Itoa(p.total)+")", nil)
	}
	p.byAddr[ip]++
	p.n++
	tc.pendingAddr = ip
	tc.pendingSlot = true
	return nil
}

// release gives tc's slot back, if it holds one. It is called from tc's own
// goroutine, the one that took the slot.
func (p *pendingSlots) release(tc *trackedConn) {
	if !tc.pendingSlot {
		return
	}
	tc.pendingSlot = false
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n--
	if p.byAddr[tc.pendingAddr]--; p.byAddr[tc.pendingAddr] <= 0 {
		delete(p.byAddr, tc.pendingAddr)
	}
}
