package web

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// showHealth answers load balancers and uptime checks without auth: 200
// {"status":"ok"} when the server can do its work, 503
// {"status":"unavailable","reason":"..."} when it cannot, the reason in one
// sentence. Answering at all proves the HTTP side; the checks prove the
// database takes a write and the MQTT broker accepts connections. It
// reveals nothing about the fleet.
func (h *handler) showHealth(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	if reason := h.health.status(); reason != "" {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "reason": reason, "version": h.cfg.Version})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok", "version": h.cfg.Version})
}

// checkHealth runs the checks once: "" when healthy, else why not.
func (h *handler) checkHealth(ctx context.Context) string {
	if err := h.svc.CheckStore(ctx); err != nil {
		h.log.Warn("health check: the database cannot be written", "err", err)
		return server.PublicMessage(err)
	}
	if h.cfg.BrokerServing != nil {
		if err := h.cfg.BrokerServing(); err != nil {
			h.log.Warn("health check: the MQTT broker is not serving", "err", err)
			return "The MQTT broker is not accepting connections; check the server log and restart the server."
		}
	}
	return ""
}

// How /healthz bounds its cost: a result is reused for healthCacheFor, so
// probes cannot hammer the database; one check runs at a time; a probe waits
// for it at most healthTimeout and then reports the server unavailable (a
// write stuck behind a lock is as bad as a failed one).
const (
	healthCacheFor = time.Second
	healthTimeout  = 2 * time.Second
	healthCheckMax = 30 * time.Second // a stuck check gives up after this
)

// healthProbe runs check at most once per healthCacheFor, one at a time.
type healthProbe struct {
	check func(context.Context) string

	mu       sync.Mutex
	reason   string
	at       time.Time     // when reason was found; zero before the first check
	inflight chan struct{} // closed when the running check ends; nil when none runs
}

func newHealthProbe(check func(context.Context) string) *healthProbe {
	return &healthProbe{check: check}
}

// status returns the current reason the server is unhealthy, "" when it is
// healthy, checking again when the last result is older than healthCacheFor.
func (p *healthProbe) status() string {
	p.mu.Lock()
	if !p.at.IsZero() && time.Since(p.at) < healthCacheFor {
		defer p.mu.Unlock()
		return p.reason
	}
	done := p.inflight
	if done == nil {
		done = make(chan struct{})
		p.inflight = done
		go p.run(done)
	}
	p.mu.Unlock()

	t := time.NewTimer(healthTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		p.mu.Lock()
		if p.inflight == done { // still stuck: that is the answer until it ends
			p.reason, p.at = "The database did not take a write within 2 seconds; it may be locked by another process or the disk may be failing.", time.Now()
		}
		p.mu.Unlock()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reason
}

func (p *healthProbe) run(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), healthCheckMax)
	defer cancel()
	reason := p.check(ctx)
	p.mu.Lock()
	p.reason, p.at, p.inflight = reason, time.Now(), nil
	p.mu.Unlock()
	close(done)
}
