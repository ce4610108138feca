package web

import (
	"net/http"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// BenchmarkDashboard10k is the dashboard's server time with 10,000 hosts
// in a real SQLite store (make bench; figures in docs/scale.md): the
// first page, a page filtered by tag and by health, and the first page of
// GET /api/v1/hosts, each a whole HTTP request on loopback.
func BenchmarkDashboard10k(b *testing.B) {
	app := newTestApp(b)
	fleet := servertest.SeedFleet(b, app.svc, 10_000)
	browser, _ := app.signedIn("vic", server.RoleViewer)
	api := app.apiClient("vic")
	for _, c := range []struct {
		name   string
		client *client
		path   string
	}{
		{"dashboard", browser, "/"},
		{"dashboard-tag", browser, "/?tag=" + fleet.SiteTag},
		{"dashboard-health", browser, "/?health=failing"},
		{"api-first-page", api, "/api/v1/hosts"},
		{"api-tag", api, "/api/v1/hosts?tag=" + fleet.SiteTag},
		{"api-health", api, "/api/v1/hosts?health=failing"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var size int
			cpu := servertest.ProcessCPU()
			for b.Loop() {
				res := c.client.get(c.path)
				if res.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d", c.path, res.StatusCode)
				}
				size = len(res.body)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/request")
			b.ReportMetric(float64((servertest.ProcessCPU()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/request")
			b.ReportMetric(float64(size)/1024, "KiB")
		})
	}
}
