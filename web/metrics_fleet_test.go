package web

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// scrape reads /metrics with c and parses it with Prometheus' own text
// parser: the whole output (hand-written and registry families) must be
// valid exposition text.
func scrape(t *testing.T, c *client) map[string]*dto.MetricFamily {
	t.Helper()
	res := c.get("/metrics")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", res.StatusCode, res.body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err := p.TextToMetricFamilies(strings.NewReader(res.body))
	if err != nil {
		t.Fatalf("/metrics is not valid Prometheus text: %v\n%s", err, res.body)
	}
	return families
}

// hostGauges are a family's values by host_id (and, for several series
// per host, by the other labels as "k=v,k=v").
func hostGauges(t *testing.T, families map[string]*dto.MetricFamily, name string) map[string]map[string]float64 {
	t.Helper()
	out := map[string]map[string]float64{}
	f := families[name]
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		var id, host, rest string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "host_id":
				id = l.GetValue()
			case "host":
				host = l.GetValue()
			default:
				rest += l.GetName() + "=" + l.GetValue() + ","
			}
		}
		if id == "" || host == "" {
			t.Errorf("%s has a series without host and host_id labels: %v", name, m.GetLabel())
		}
		if out[id] == nil {
			out[id] = map[string]float64{}
		}
		out[id][strings.TrimSuffix(rest, ",")] = m.GetGauge().GetValue()
	}
	return out
}

// TestMetricsPerHostEqualTheAPI scrapes /metrics from a server with hosts,
// jobs and snapshots in its database and checks every per-host figure
// against what the API says about the same host and its jobs, and the job
// duration histogram against the jobs that ended.
func TestMetricsPerHostEqualTheAPI(t *testing.T) {
	var ahead atomic.Int64 // how far the server's clock runs ahead
	app := newTestAppWith(t, server.Options{Now: func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }})
	servertest.MustCreateUser(t, app.svc, "prom", server.RoleViewer)
	api := app.apiClient("prom")

	// alpha: a failed backup, then a successful one with restic's summary,
	// a failed check, a dry-run forget (a preview, no forget), and three
	// snapshots carrying their summaries.
	alpha := app.readyHost("alpha")
	alpha.finish(alpha.backup(), topics.JobFailed, &topics.JobResult{Reason: "restic failed"})
	ok := alpha.finish(alpha.backup(), topics.JobSucceeded, &topics.JobResult{SnapshotID: strings.Repeat("ab", 32),
		Backup: &topics.BackupSummary{FilesNew: 3, DataAdded: 7 << 20, TotalDuration: 61.5}})
	alpha.finish(alpha.queue(topics.JobSpec{Kind: topics.JobCheck}), topics.JobFailed, &topics.JobResult{Reason: "check found errors"})
	alpha.reportSnapshots(3)
	alpha.finish(alpha.queue(topics.JobSpec{Kind: topics.JobStats}), topics.JobSucceeded,
		&topics.JobResult{Stats: &topics.RepoStats{TotalSize: 123 << 20, Blobs: 40, Snapshots: 3}})
	// #14: alpha's newest drill verified its sample (after a failed one).
	alpha.finish(alpha.queue(topics.JobSpec{Kind: topics.JobDrill}), topics.JobFailed, &topics.JobResult{Reason: "restore drill failed: /srv/a differs"})
	alpha.finish(alpha.queue(topics.JobSpec{Kind: topics.JobDrill}), topics.JobSucceeded,
		&topics.JobResult{Drill: &topics.DrillResult{Sampled: 2, Compared: 2, Matched: 2}})
	week := int64(7 * 24 * 3600)
	if _, err := app.svc.SetHostAlerting(t.Context(), server.CLIActor(), alpha.hostID, server.HostAlerting{OverdueAfterSeconds: &week}); err != nil {
		t.Fatal(err)
	}
	// beta: offline, one failed backup, never a success, no snapshots.
	beta := app.readyHost("beta")
	beta.finish(beta.backup(), topics.JobFailed, &topics.JobResult{Reason: "repository locked"})
	beta.finish(beta.queue(topics.JobSpec{Kind: topics.JobDrill}), topics.JobFailed, &topics.JobResult{Reason: "restore drill failed: /srv/b was not restored"})
	app.svc.Presence().Disconnected(beta.hostID, 1)
	// gamma: enrolled, never connected, never ran anything.
	gamma := app.enrollHost("gamma")
	// 30 hours later: beta and gamma are overdue (26 h), alpha is not (a
	// week); beta and gamma are offline past their 24 h.
	ahead.Store(int64(30 * time.Hour))

	families := scrape(t, api)
	online := hostGauges(t, families, "restic_manager_host_online")
	lastSuccess := hostGauges(t, families, "restic_manager_host_last_success_timestamp_seconds")
	snapshots := hostGauges(t, families, "restic_manager_host_snapshots")
	size := hostGauges(t, families, "restic_manager_repository_size_bytes")
	added := hostGauges(t, families, "restic_manager_backup_added_bytes")
	duration := hostGauges(t, families, "restic_manager_backup_duration_seconds")
	status := hostGauges(t, families, "restic_manager_host_last_job_status")
	overdue := hostGauges(t, families, "restic_manager_host_overdue")
	offline := hostGauges(t, families, "restic_manager_host_offline_alert")
	drillAt := hostGauges(t, families, "restic_manager_host_last_drill_timestamp_seconds")
	drillOK := hostGauges(t, families, "restic_manager_host_last_drill_verified")
	if drillOK[alpha.hostID][""] != 1 || len(drillOK[beta.hostID]) != 1 || drillOK[beta.hostID][""] != 0 || len(drillOK[gamma.HostID]) != 0 {
		t.Errorf("last drill verified: %v; want alpha 1, beta 0, gamma absent", drillOK)
	}

	for _, id := range []string{alpha.hostID, beta.hostID, gamma.HostID} {
		var host server.Host
		if err := json.Unmarshal([]byte(api.get("/api/v1/hosts/"+id).body), &host); err != nil {
			t.Fatal(err)
		}
		if got, want := online[id][""], boolFloat(host.Online); got != want || len(online[id]) != 1 {
			t.Errorf("%s: online %v, the API says %v", host.Name, online[id], host.Online)
		}
		var snaps server.SnapshotList
		if err := json.Unmarshal([]byte(api.get("/api/v1/hosts/"+id+"/snapshots").body), &snaps); err != nil {
			t.Fatal(err)
		}
		if got := snapshots[id][""]; got != float64(len(snaps.Snapshots)) {
			t.Errorf("%s: snapshots %v, the API lists %d", host.Name, got, len(snaps.Snapshots))
		}
		stats, err := app.svc.HostStats(t.Context(), id, 30)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(stats.Repository); n == 0 {
			if len(size[id]) != 0 {
				t.Errorf("%s: repository size %v before any stats job", host.Name, size[id])
			}
		} else if got := size[id][""]; got != float64(stats.Repository[n-1].TotalSize) {
			t.Errorf("%s: repository size %v, its stats say %v", host.Name, got, stats.Repository)
		}
		if got := overdue[id][""]; got != boolFloat(host.Overdue) || len(overdue[id]) != 1 {
			t.Errorf("%s: overdue %v, the API says %v", host.Name, overdue[id], host.Overdue)
		}
		if got := offline[id][""]; got != boolFloat(host.OfflineAlert) || len(offline[id]) != 1 {
			t.Errorf("%s: offline alert %v, the API says %v", host.Name, offline[id], host.OfflineAlert)
		}
		if d := host.LastDrill; d == nil {
			if len(drillAt[id])+len(drillOK[id]) > 0 {
				t.Errorf("%s: drill series %v %v, the API has no drill", host.Name, drillAt[id], drillOK[id])
			}
		} else if drillAt[id][""] != float64(d.At.UnixMilli())/1000 || drillOK[id][""] != boolFloat(d.Verified()) {
			t.Errorf("%s: last drill %v, verified %v; the API says %+v", host.Name, drillAt[id], drillOK[id], d)
		}
		var jobs struct {
			Jobs []server.Job `json:"jobs"`
		}
		if err := json.Unmarshal([]byte(api.get("/api/v1/jobs?host="+id).body), &jobs); err != nil {
			t.Fatal(err)
		}
		wantStatus := map[string]float64{}
		var lastOK *server.Job
		for i := range jobs.Jobs { // newest first
			j := &jobs.Jobs[i]
			if !j.Terminal || j.Preview || !isMetricsKind(j.Kind) {
				continue
			}
			key := fmt.Sprintf("kind=%s,status=%s", j.Kind, j.Status)
			if !hasKind(wantStatus, j.Kind) {
				wantStatus[key] = 1
			}
			if j.Kind == topics.JobBackup && lastOK == nil && (j.Status == topics.JobSucceeded || j.Status == topics.JobWarning) {
				lastOK = j
			}
		}
		if fmt.Sprint(status[id]) != fmt.Sprint(wantStatus) && len(status[id])+len(wantStatus) > 0 {
			t.Errorf("%s: last job status %v, the jobs API says %v", host.Name, status[id], wantStatus)
		}
		if lastOK == nil {
			if len(lastSuccess[id])+len(added[id])+len(duration[id]) > 0 {
				t.Errorf("%s never backed up, yet has last success %v, added %v, duration %v", host.Name, lastSuccess[id], added[id], duration[id])
			}
			continue
		}
		if host.LastSuccessAt == nil || !host.LastSuccessAt.Equal(*lastOK.FinishedAt) {
			t.Errorf("%s: the API's last success %v is not the last good backup's end %v", host.Name, host.LastSuccessAt, lastOK.FinishedAt)
		}
		if got, want := lastSuccess[id][""], float64(lastOK.FinishedAt.UnixMilli())/1000; math.Abs(got-want) > 0.001 {
			t.Errorf("%s: last success %v, the last good backup finished at %v", host.Name, got, want)
		}
		b := lastOK.Summary.Backup
		if added[id][""] != float64(b.DataAdded) || duration[id][""] != b.TotalDuration {
			t.Errorf("%s: added %v duration %v, the last good backup's summary says %d and %v", host.Name, added[id], duration[id], b.DataAdded, b.TotalDuration)
		}
	}
	// The fixture did what the comparisons above assume.
	if ok.ID == 0 || size[alpha.hostID][""] != 123<<20 || status[alpha.hostID]["kind=check,status=failed"] != 1 ||
		status[beta.hostID]["kind=backup,status=failed"] != 1 || online[beta.hostID][""] != 0 || added[alpha.hostID][""] != 7<<20 ||
		overdue[alpha.hostID][""] != 0 || overdue[beta.hostID][""] != 1 || offline[beta.hostID][""] != 1 || offline[alpha.hostID][""] != 0 {
		t.Errorf("unexpected figures: size %v, status %v / %v, online %v, overdue %v, offline %v",
			size, status[alpha.hostID], status[beta.hostID], online, overdue, offline)
	}

	// The histogram counts every job that ran and ended, by kind: here
	// two inits, two backups of alpha and one of beta, one check, one stats,
	// two drills of alpha and one of beta.
	want := map[string]uint64{"init": 2, "backup": 3, "check": 1, "stats": 1, "drill": 3}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := histogramCounts(scrape(t, api))
		if fmt.Sprint(got) == fmt.Sprint(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job duration histogram counts %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}

	t.Run("install/monitoring uses only exported series", func(t *testing.T) {
		checkMonitoringFiles(t, scrape(t, api))
	})

	// Without a token, or with a session cookie only, no scrape.
	if res := app.browser().get("/metrics"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("an anonymous scrape: %d", res.StatusCode)
	}
}

func isMetricsKind(k topics.JobKind) bool {
	for _, m := range server.MetricsJobKinds {
		if m == k {
			return true
		}
	}
	return false
}

func hasKind(m map[string]float64, k topics.JobKind) bool {
	for key := range m {
		if strings.HasPrefix(key, "kind="+string(k)+",") {
			return true
		}
	}
	return false
}

// histogramCounts are restic_manager_job_duration_seconds' sample counts
// by kind.
func histogramCounts(families map[string]*dto.MetricFamily) map[string]uint64 {
	out := map[string]uint64{}
	f := families["restic_manager_job_duration_seconds"]
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "kind" {
				out[l.GetValue()] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	return out
}

// seriesName is a metric name of ours in a PromQL expression.
var seriesName = regexp.MustCompile(`\b(?:restic_manager|rm)_[a-zA-Z0-9_]+`)

// checkMonitoringFiles: the example alert rules and Grafana dashboard
// parse, hold what docs/monitoring.md promises, and every expression
// names only series /metrics exported (Prometheus' own `up` aside).
func checkMonitoringFiles(t *testing.T, families map[string]*dto.MetricFamily) {
	exported := map[string]bool{}
	for name, f := range families {
		exported[name] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				exported[name+suffix] = true
			}
		}
	}
	checkExpr := func(where, expr string) {
		t.Helper()
		names := seriesName.FindAllString(expr, -1)
		if len(names) == 0 && !strings.Contains(expr, `up{job="restic-manager"}`) {
			t.Errorf("%s: %q names no restic-manager series", where, expr)
		}
		for _, n := range names {
			if !exported[n] {
				t.Errorf("%s: %q uses %s, which /metrics does not export", where, expr, n)
			}
		}
	}

	raw, err := os.ReadFile("../install/monitoring/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.UnmarshalWithOptions(raw, &rules, yaml.Strict()); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			checkExpr("alerts.yml "+r.Alert, r.Expr)
			if r.Annotations["summary"] == "" || r.Labels["severity"] == "" {
				t.Errorf("alerts.yml %s lacks a summary or a severity", r.Alert)
			}
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					t.Errorf("alerts.yml %s: for %q: %v", r.Alert, r.For, err)
				}
			}
		}
	}
	for _, want := range []string{"ResticManagerHostOverdue", "ResticManagerNoSuccessIn26h", "ResticManagerHostOffline",
		"ResticManagerLastJobFailed", "ResticManagerScrapeDown"} {
		if !alerts[want] {
			t.Errorf("alerts.yml lacks %s (has %v)", want, alerts)
		}
	}

	raw, err = os.ReadFile("../install/monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	shown := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			checkExpr("dashboard panel "+p.Title, tg.Expr)
			for _, n := range seriesName.FindAllString(tg.Expr, -1) {
				shown[n] = true
			}
		}
	}
	for _, want := range []string{"restic_manager_host_overdue", "restic_manager_host_last_success_timestamp_seconds",
		"restic_manager_backup_duration_seconds", "restic_manager_backup_added_bytes", "restic_manager_repository_size_bytes",
		"restic_manager_host_last_job_status"} {
		if !shown[want] {
			t.Errorf("the dashboard shows no %s", want)
		}
	}

	raw, err = os.ReadFile("../install/monitoring/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var scrapeCfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			Authorization struct {
				Type            string `yaml:"type"`
				CredentialsFile string `yaml:"credentials_file"`
			} `yaml:"authorization"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &scrapeCfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	if len(scrapeCfg.ScrapeConfigs) != 1 || scrapeCfg.ScrapeConfigs[0].JobName != "restic-manager" || scrapeCfg.ScrapeConfigs[0].MetricsPath != "/metrics" ||
		scrapeCfg.ScrapeConfigs[0].Authorization.Type != "Bearer" || scrapeCfg.ScrapeConfigs[0].Authorization.CredentialsFile == "" {
		t.Errorf("prometheus.yml does not scrape /metrics as job restic-manager with a bearer token: %+v", scrapeCfg)
	}
}
