package web

import (
	"log/slog"
	"net"
	"sync"
)

// DefaultConnsPerAddr is how many HTTP connections one client address may
// hold open at once when no other limit is configured. A browser opens about
// six, a reverse proxy or a large office NAT many more.
const DefaultConnsPerAddr = 256

// LimitConns wraps ln so that at most perAddr connections from one remote IP
// address, and at most total overall, are open at once; a connection over
// either limit is closed as soon as it is accepted, before a byte is read.
// Wrap the plain TCP listener, under any TLS listener, so refusing costs no
// handshake. A limit of 0 or less means none.
//
// Together with the read deadlines this bounds what unauthenticated clients
// can hold: the attack run kept 1,500 connections (and their file
// descriptors) open from one address.
func LimitConns(ln net.Listener, perAddr, total int, logger *slog.Logger) net.Listener {
	if logger == nil {
		logger = slog.Default()
	}
	return &connLimiter{Listener: ln, perAddr: perAddr, total: total, log: logger,
		open: make(map[string]int), warned: make(map[string]bool)}
}

type connLimiter struct {
	net.Listener
	perAddr, total int
	log            *slog.Logger

	mu     sync.Mutex
	count  int
	open   map[string]int  // per remote IP
	warned map[string]bool // one log line per address while it is over
	// warnedTotal: one log line while the server-wide limit is reached.
	warnedTotal bool
}

// Accept returns the next connection within the limits, closing the ones
// over them.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		if l.take(ip) {
			return &limitedConn{Conn: c, release: func() { l.release(ip) }}, nil
		}
		_ = c.Close()
	}
}

// take counts a connection from ip if both limits allow it.
func (l *connLimiter) take(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	overAddr := l.perAddr > 0 && l.open[ip] >= l.perAddr
	overTotal := l.total > 0 && l.count >= l.total
	switch {
	case overAddr:
		if !l.warned[ip] { // cleared when the address's last connection closes
			l.warned[ip] = true
			l.log.Warn("http connections from one address over the limit; refusing more from it until some close",
				"remote", ip, "limit", l.perAddr)
		}
		return false
	case overTotal:
		if !l.warnedTotal {
			l.warnedTotal = true
			l.log.Warn("http connections over the server-wide limit; refusing more until some close", "limit", l.total)
		}
		return false
	}
	l.open[ip]++
	l.count++
	return true
}

func (l *connLimiter) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count--; l.count < l.total {
		l.warnedTotal = false
	}
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
		delete(l.warned, ip)
	}
}

// limitedConn gives its place back once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// remoteIP is the address without the port.
func remoteIP(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
