package broker

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Admission control. A burst of connections (10,000 agents at once, a
// restart storm) used to start every TLS handshake at once: on a small
// server each then took seconds of a starved CPU, many ran past the
// agents' and the broker's deadlines, and every one that timed out was
// retried — full price again. Now only so many connections are "in
// progress" at once (Config.MaxHandshakes): from their first byte through
// the TLS handshake to the decision on their CONNECT (authHook.OnConnect).
// The rest wait in arrival order, unread, and are served as slots free up:
// a burst queues instead of timing out.
//
// An unauthenticated peer cannot hold the slots:
//   - a connection takes a slot only once its first bytes arrived, so a
//     silent one waits in the kernel (and is cut at the CONNECT deadline)
//     without holding anything;
//   - once admitted, it has Config.ConnectTimeout to finish its handshake
//     and send CONNECT, or is closed;
//   - one source address holds at most Config.MaxHandshakesPerAddr slots;
//     its other connections wait while other addresses' go ahead;
//   - a connection waits at most Config.ConnectTimeout for a slot, then is
//     closed unread (its client retries with its backoff), so the queue of
//     a never-ending burst stays bounded by its arrival rate;
//   - the per-address limits on connection attempts and failed logins
//     apply at accept, before any of this.

// admission hands out the in-progress slots.
type admission struct {
	max, maxPerAddr int

	mu      sync.Mutex
	inUse   int
	perAddr map[string]int
	queue   []*admissionWaiter // in arrival order
	queued  atomic.Uint64      // connections that had to wait, ever
}

type admissionWaiter struct {
	ip      string
	granted chan struct{}
}

func newAdmission(max, maxPerAddr int) *admission {
	return &admission{max: max, maxPerAddr: maxPerAddr, perAddr: map[string]int{}}
}

// fits reports whether ip may take a slot now. Callers hold mu.
func (a *admission) fits(ip string) bool {
	return a.inUse < a.max && (a.maxPerAddr <= 0 || a.perAddr[ip] < a.maxPerAddr)
}

func (a *admission) take(ip string) {
	a.inUse++
	a.perAddr[ip]++
}

// acquire takes a slot for ip, waiting in line for at most wait or until
// done is closed.
func (a *admission) acquire(ip string, wait time.Duration, done <-chan struct{}) bool {
	if a.max <= 0 {
		return true
	}
	a.mu.Lock()
	// Whoever waits in line does not fit (release grants every waiter
	// that does), so one that fits now jumps nobody.
	if a.fits(ip) {
		a.take(ip)
		a.mu.Unlock()
		return true
	}
	w := &admissionWaiter{ip: ip, granted: make(chan struct{})}
	a.queue = append(a.queue, w)
	a.queued.Add(1)
	a.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-w.granted:
		return true
	case <-timer.C:
	case <-done:
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-w.granted: // granted while giving up: keep it, the caller goes on
		return true
	default:
	}
	for i, q := range a.queue {
		if q == w {
			a.queue = append(a.queue[:i], a.queue[i+1:]...)
			break
		}
	}
	return false
}

// release gives ip's slot back and hands free slots to the first waiters
// that fit.
func (a *admission) release(ip string) {
	if a.max <= 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inUse--
	if a.perAddr[ip]--; a.perAddr[ip] <= 0 {
		delete(a.perAddr, ip)
	}
	for i := 0; i < len(a.queue) && a.inUse < a.max; {
		w := a.queue[i]
		if !a.fits(w.ip) {
			i++
			continue
		}
		a.take(w.ip)
		close(w.granted)
		a.queue = append(a.queue[:i], a.queue[i+1:]...)
	}
}

// gatedConn is the raw connection under TLS (or under mochi for plain
// MQTT): its first Read waits for the connection's first bytes, then for
// a slot, and only then returns them, so the handshake (or the CONNECT)
// is worked on only with a slot held. The slot is given back by
// releaseSlot: when the CONNECT was decided, or when the connection ends.
type gatedConn struct {
	net.Conn
	l         *listener
	ip        string
	admitted  bool        // set by the first Read (the connection's goroutine only)
	waitedOut bool        // no slot came in time (the connection's goroutine only)
	held      atomic.Bool // a slot is held
}

// Read is the raw connection's Read, gated on its first call.
func (g *gatedConn) Read(p []byte) (int, error) {
	if g.admitted {
		return g.Conn.Read(p)
	}
	n, err := g.Conn.Read(p) // a silent peer waits here, holding no slot
	if err != nil || n == 0 {
		return n, err
	}
	g.admitted = true
	b := g.l.b
	if !b.admission.acquire(g.ip, b.cfg.admissionWait, g.l.done) {
		b.stats.admissionTimeouts.Add(1)
		g.waitedOut = true
		return 0, os.ErrDeadlineExceeded
	}
	g.held.Store(true)
	// The deadline per handshake: from now, not from accept, so the wait
	// in line does not eat into it. Mochi sets its keepalive deadline
	// once CONNECT has been read.
	_ = g.Conn.SetDeadline(time.Now().Add(b.cfg.ConnectTimeout))
	return n, nil
}

// releaseSlot gives the slot back (once; a no-op when none is held).
func (g *gatedConn) releaseSlot() {
	if g != nil && g.held.CompareAndSwap(true, false) {
		g.l.b.admission.release(g.ip)
	}
}
