package web

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/restic-manager/restic-manager/server"
)

// Per-host figures (#13) go through a prometheus.Registry: a collector
// that reads the fleet from the domain in one query per scrape, and the job
// duration histogram, observed here as jobs end. /metrics writes the
// registry's families after the hand-written ones (metrics.go).

var (
	hostLabels = []string{"host", "host_id"}

	descLastSuccess = prometheus.NewDesc("restic_manager_host_last_success_timestamp_seconds",
		"When the host's newest backup that made a snapshot (succeeded or warning) finished, in Unix seconds; absent if it never had one.",
		hostLabels, nil)
	descLastJobStatus = prometheus.NewDesc("restic_manager_host_last_job_status",
		"1 for the status of the host's newest ended job of each kind (backup, check, forget, prune, stats); kinds the host never ran are absent.",
		append(hostLabels, "kind", "status"), nil)
	descOverdue = prometheus.NewDesc("restic_manager_host_overdue",
		"1 if the host's last successful backup (or its enrollment) is older than its overdue threshold (its schedules' longest gap plus a grace, or 26 h), else 0.",
		hostLabels, nil)
	descOnline = prometheus.NewDesc("restic_manager_host_online",
		"1 if the host's agent is connected, else 0.", hostLabels, nil)
	descSnapshots = prometheus.NewDesc("restic_manager_host_snapshots",
		"Snapshots the host's repository lists (its last snapshot report).", hostLabels, nil)
	descOfflineAlert = prometheus.NewDesc("restic_manager_host_offline_alert",
		"1 if the host has been offline for longer than its own offline threshold (24 h unless set, e.g. 7 d for a laptop), else 0.",
		hostLabels, nil)
	descRepoSize = prometheus.NewDesc("restic_manager_repository_size_bytes",
		"The host repository's total size as its newest restic stats --mode raw-data measured it (daily, and after a prune); absent before the first stats job.",
		hostLabels, nil)
	descAdded = prometheus.NewDesc("restic_manager_backup_added_bytes",
		"Data added to the repository by the host's last successful backup (restic's data_added).", hostLabels, nil)
	descBackupDuration = prometheus.NewDesc("restic_manager_backup_duration_seconds",
		"How long the host's last successful backup took (restic's total_duration).", hostLabels, nil)
	descLastDrill = prometheus.NewDesc("restic_manager_host_last_drill_timestamp_seconds",
		"When the host's newest restore drill (succeeded, warning or failed) finished, in Unix seconds; absent before the first.",
		hostLabels, nil)
	descLastDrillVerified = prometheus.NewDesc("restic_manager_host_last_drill_verified",
		"1 if the host's newest restore drill verified its sample (succeeded), else 0; absent before the first drill.",
		hostLabels, nil)
)

// fleetCollector reads the per-host figures at scrape time.
type fleetCollector struct {
	svc *server.Service
	log *slog.Logger
}

func (fc fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLastSuccess, descLastJobStatus, descOverdue, descOnline,
		descOfflineAlert, descSnapshots, descRepoSize, descAdded, descBackupDuration, descLastDrill, descLastDrillVerified} {
		ch <- d
	}
}

func (fc fleetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hosts, err := fc.svc.FleetMetrics(ctx)
	if err != nil {
		// The scrape fails as a whole (promhttp answers 500 with the error).
		ch <- prometheus.NewInvalidMetric(descOnline, err)
		return
	}
	for _, h := range hosts {
		labels := []string{h.Name, h.ID}
		gauge := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(labels, extra...)...)
		}
		gauge(descOnline, boolFloat(h.Online))
		gauge(descOverdue, boolFloat(h.Health.Overdue))
		gauge(descOfflineAlert, boolFloat(h.Health.OfflineAlert))
		gauge(descSnapshots, float64(h.Snapshots))
		if t := h.Health.LastSuccessAt; t != nil {
			gauge(descLastSuccess, float64(t.UnixMilli())/1000)
		}
		if b := h.LastBackup; b != nil {
			gauge(descAdded, float64(b.DataAdded))
			gauge(descBackupDuration, b.TotalDuration)
		}
		if h.RepositorySize != nil {
			gauge(descRepoSize, float64(*h.RepositorySize))
		}
		for kind, st := range h.LastJobs {
			gauge(descLastJobStatus, 1, string(kind), string(st))
		}
		if d := h.LastDrill; d != nil {
			gauge(descLastDrill, float64(d.At.UnixMilli())/1000)
			gauge(descLastDrillVerified, boolFloat(d.Verified()))
		}
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// jobDurationBuckets span a quick check to a day-long first backup.
var jobDurationBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400}

// jobWatch observes the duration of every job that ends into the
// histogram: it follows the event bus and reads a job when it changes.
// A job that ended is observed once (seen remembers the last few
// thousand); a job that never ran (expired, canceled before it started)
// has no duration and a retention preview is no job of the fleet's.
// Jobs that end while the bus drops events for this reader (a resync)
// are missed: the histogram counts what this process saw.
type jobWatch struct {
	svc       *server.Service
	log       *slog.Logger
	durations *prometheus.HistogramVec
	seen      map[int64]struct{}
	ring      []int64
	next      int
	done      chan struct{}
	finished  chan struct{}
	stopOnce  sync.Once
}

const jobWatchMemory = 4096

func newJobWatch(svc *server.Service, log *slog.Logger, durations *prometheus.HistogramVec) *jobWatch {
	return &jobWatch{svc: svc, log: log, durations: durations, seen: make(map[int64]struct{}, jobWatchMemory),
		ring: make([]int64, jobWatchMemory), done: make(chan struct{}), finished: make(chan struct{})}
}

func (w *jobWatch) start() {
	events, unsubscribe := w.svc.Events().Subscribe()
	go func() {
		defer close(w.finished)
		defer unsubscribe()
		for {
			select {
			case <-w.done:
				return
			case e, ok := <-events:
				if !ok {
					return
				}
				// A job is counted by the replica that stored its end, once
				// (several replicas, #15: another replica may read the job
				// ended while handling an earlier event of it).
				if e.Kind == server.EventJobUpdated && e.JobID != 0 && e.Ended && !e.Remote() {
					w.observe(e.JobID)
				}
			}
		}
	}()
}

func (w *jobWatch) stop() {
	w.stopOnce.Do(func() {
		close(w.done)
		<-w.finished
	})
}

func (w *jobWatch) observe(id int64) {
	if _, ok := w.seen[id]; ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j, err := w.svc.GetJob(ctx, id)
	if err != nil {
		if server.ErrorCodeOf(err) != server.CodeNotFound { // deleted with its host: nothing to observe
			w.log.Warn("metrics: read job", "job", id, "err", err)
		}
		return
	}
	if !j.Terminal {
		return
	}
	if old := w.ring[w.next]; old != 0 {
		delete(w.seen, old)
	}
	w.ring[w.next] = id
	w.next = (w.next + 1) % len(w.ring)
	w.seen[id] = struct{}{}
	if j.Preview || j.StartedAt == nil || j.FinishedAt == nil {
		return
	}
	d := j.FinishedAt.Sub(*j.StartedAt).Seconds()
	if d < 0 {
		d = 0
	}
	w.durations.WithLabelValues(string(j.Kind)).Observe(d)
}
