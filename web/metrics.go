package web

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/restic-manager/restic-manager/server"
)

// metrics counts what /metrics reports. Host counts are read from the
// domain at scrape time; the rest is counted here as requests pass. The
// per-host figures and the job duration histogram (#13) are in registry
// (metrics_fleet.go).
type metrics struct {
	mu       sync.Mutex
	requests map[requestKey]uint64

	registry *prometheus.Registry
	jobs     *jobWatch

	enrollOK          atomic.Uint64
	enrollFailed      atomic.Uint64
	enrollRateLimited atomic.Uint64
}

// requestKey labels a request count. route is the route pattern, never the
// raw path, so the number of series stays bounded.
type requestKey struct {
	method, route string
	code          int
}

// newMetrics makes the counters and the registry; watch starts observing jobs.
func newMetrics(svc *server.Service, log *slog.Logger) *metrics {
	durations := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "restic_manager_job_duration_seconds",
		Help:    "How long jobs ran (the agent's start to end), by kind, observed as they end while this server runs.",
		Buckets: jobDurationBuckets,
	}, []string{"kind"})
	reg := prometheus.NewRegistry()
	reg.MustRegister(fleetCollector{svc: svc, log: log}, durations)
	return &metrics{requests: make(map[requestKey]uint64), registry: reg, jobs: newJobWatch(svc, log, durations)}
}

func (m *metrics) countRequest(method, route string, code int) {
	m.mu.Lock()
	m.requests[requestKey{method, route, code}]++
	m.mu.Unlock()
}

// showMetrics serves Prometheus text format. It needs an API token (any
// role): host names are not in it, but fleet size and health are nobody
// else's business, and Prometheus sends bearer tokens natively
// (authorization: {credentials: ...} in a scrape config).
func (h *handler) showMetrics(c *gin.Context) {
	sum, err := h.svc.CountFleet(c.Request.Context())
	if err != nil {
		h.apiError(c, err)
		return
	}
	var b bytes.Buffer
	gauge(&b, "rm_hosts", "Enrolled hosts by presence.", []sample{
		{`state="online"`, uint64(sum.Online)},
		{`state="offline"`, uint64(sum.Offline)},
		{`state="never_connected"`, uint64(sum.NeverConnected)},
	})
	gauge(&b, "rm_hosts_total", "Enrolled hosts.", []sample{{"", uint64(sum.Total)}})
	pending, err := h.svc.ListPendingHosts(c.Request.Context())
	if err != nil {
		h.apiError(c, err)
		return
	}
	gauge(&b, "rm_pending_hosts", "Machines announced and waiting for an admin.", []sample{{"", uint64(len(pending))}})
	gauge(&b, "rm_web_event_streams", "Open dashboard event streams.", []sample{{"", uint64(h.hub.clientCount())}})
	counter(&b, "rm_enroll_attempts_total", "Agent enroll attempts by result.", []sample{
		{`result="ok"`, h.metrics.enrollOK.Load()},
		{`result="failed"`, h.metrics.enrollFailed.Load()},
		{`result="rate_limited"`, h.metrics.enrollRateLimited.Load()},
	})
	counter(&b, "rm_http_requests_total", "HTTP requests by method, route and status code.", h.metrics.requestSamples())
	ingest := h.svc.Stats()
	counter(&b, "rm_mqtt_messages_total", "Agent MQTT messages by outcome (rejected: malformed or forged, logged and dropped).", []sample{
		{`result="accepted"`, ingest.Accepted.Load()},
		{`result="rejected"`, ingest.Rejected.Load()},
	})
	counter(&b, "rm_mqtt_job_messages_total", "Job events, log batches and snapshot reports the store-first writer handled, by outcome.", []sample{
		{`outcome="duplicate"`, ingest.Duplicates.Load()},
		{`outcome="deferred"`, ingest.Deferred.Load()},
		{`outcome="queue_full"`, ingest.QueueFull.Load()},
		{`outcome="dropped"`, ingest.Dropped.Load()},
		{`outcome="failed"`, ingest.Failed.Load()},
	})
	counter(&b, "rm_mqtt_resends_asked_total", "Acks that asked an agent to resend its outbox (a gap in a job's log).",
		[]sample{{"", ingest.ResendsAsked.Load()}})
	counter(&b, "rm_mqtt_rejected_total", "Rejected agent messages by reason.", rejectedSamples(ingest.RejectedBy()))
	if h.cfg.BrokerStats != nil {
		stats := h.cfg.BrokerStats()
		names := make([]string, 0, len(stats))
		for name := range stats {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			counter(&b, "rm_broker_"+name+"_total", "Broker counter "+name+".", []sample{{"", stats[name]}})
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gauge(&b, "rm_go_heap_inuse_bytes", "Go heap in use by the server process.", []sample{{"", ms.HeapInuse}})
	gauge(&b, "rm_go_goroutines", "Goroutines in the server process.", []sample{{"", uint64(runtime.NumGoroutine())}})
	families, err := h.metrics.registry.Gather()
	if err != nil {
		h.apiError(c, err)
		return
	}
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			h.apiError(c, err)
			return
		}
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/plain; version=0.0.4; charset=utf-8", b.Bytes())
}

type sample struct {
	labels string
	value  uint64
}

func (m *metrics) requestSamples() []sample {
	m.mu.Lock()
	out := make([]sample, 0, len(m.requests))
	for k, v := range m.requests {
		labels := fmt.Sprintf(`method=%s,route=%s,code="%d"`, promQuote(k.method), promQuote(k.route), k.code)
		out = append(out, sample{labels, v})
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].labels < out[j].labels })
	return out
}

func gauge(b *bytes.Buffer, name, help string, s []sample)   { family(b, name, "gauge", help, s) }
func counter(b *bytes.Buffer, name, help string, s []sample) { family(b, name, "counter", help, s) }

func family(b *bytes.Buffer, name, kind, help string, samples []sample) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
	for _, s := range samples {
		if s.labels == "" {
			fmt.Fprintf(b, "%s %d\n", name, s.value)
		} else {
			fmt.Fprintf(b, "%s{%s} %d\n", name, s.labels, s.value)
		}
	}
}

// promQuote quotes a label value the way the text format wants.
func promQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// rejectedSamples labels the rejection counts by reason. Reasons are a
// fixed set of phrases in the domain's code, so the series stay bounded.
func rejectedSamples(by map[string]uint64) []sample {
	reasons := make([]string, 0, len(by))
	for r := range by {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	out := make([]sample, 0, len(reasons))
	for _, r := range reasons {
		out = append(out, sample{"reason=" + promQuote(r), by[r]})
	}
	return out
}
