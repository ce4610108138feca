package broker

import (
	"net"
	"sync"
	"time"
)

// addrLimiter counts events per source IP address in fixed windows and can
// block an address for a while. It is used twice: for connection attempts
// (refuse beyond N a minute) and for failed authentications (beyond N in five
// minutes the address is refused for five minutes).
//
// The key is the IP alone (not the port). Many agents behind one NAT share an
// address, which is why the connection limit is generous by default.
type addrLimiter struct {
	max    int // events allowed per window; <= 0 disables the limiter
	window time.Duration
	now    func() time.Time

	mu        sync.Mutex
	addrs     map[string]*addrCount
	lastSweep time.Time
}

type addrCount struct {
	windowStart  time.Time
	count        int
	blockedUntil time.Time
}

func newAddrLimiter(max int, window time.Duration) *addrLimiter {
	return &addrLimiter{max: max, window: window, now: time.Now, addrs: map[string]*addrCount{}}
}

// hit records one event for ip and returns the number of events of ip in the
// current window, this one included (0 when the limiter is disabled). When
// the count reaches max, the address is blocked for one window from now.
func (l *addrLimiter) hit(ip string) int {
	if l.max <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now)
	c := l.addrs[ip]
	if c == nil {
		c = &addrCount{windowStart: now}
		l.addrs[ip] = c
	}
	if !now.Before(c.windowStart.Add(l.window)) {
		c.windowStart, c.count = now, 0
	}
	c.count++
	if c.count == l.max {
		c.blockedUntil = now.Add(l.window)
	}
	return c.count
}

// allow records a connection attempt and reports whether it is within the
// limit, and whether it is the first one over it in this window (to log once).
func (l *addrLimiter) allow(ip string) (ok, firstRefusal bool) {
	n := l.hit(ip)
	return n <= l.max || l.max <= 0, n == l.max+1
}

// fail records a failed login and reports whether it just got ip blocked.
func (l *addrLimiter) fail(ip string) (nowBlocked bool) {
	return l.max > 0 && l.hit(ip) == l.max
}

// blocked reports whether ip reached max (see hit) less than a window ago.
// Only the failed-login limiter uses it; connection attempts are refused by
// allow until their window ends.
func (l *addrLimiter) blocked(ip string) bool {
	if l.max <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.addrs[ip]
	return c != nil && l.now().Before(c.blockedUntil)
}

// sweep forgets addresses that have been quiet for a whole window, at most
// once per window, so the map stays as small as the set of recent addresses.
func (l *addrLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.window {
		return
	}
	l.lastSweep = now
	for ip, c := range l.addrs {
		if now.Sub(c.windowStart) >= l.window && !now.Before(c.blockedUntil) {
			delete(l.addrs, ip)
		}
	}
}

// hostOf returns the IP part of a remote address ("1.2.3.4:5678" → "1.2.3.4").
func hostOf(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}
