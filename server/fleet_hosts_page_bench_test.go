package server_test

import (
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// BenchmarkHostList10k is the host list's server time on a fleet of
// 10,000 hosts in a real SQLite store (make bench; figures in
// docs/scale.md): the first page unfiltered, by tag, by health, by a
// search text, the dashboard's counts, and, for comparison, the whole
// fleet with its health (what GET /api/v1/hosts cost before #15).
func BenchmarkHostList10k(b *testing.B) {
	s := servertest.MustOpenService(b, server.Options{})
	fleet := servertest.SeedFleet(b, s, 10_000)
	ctx := b.Context()
	for _, c := range []struct {
		name string
		req  server.HostPageRequest
		min  int // hosts the page must hold
	}{
		{"first-page", server.HostPageRequest{}, server.DefaultHostPageSize},
		{"first-page-500", server.HostPageRequest{Limit: server.MaxHostPageSize}, server.MaxHostPageSize},
		{"tag", server.HostPageRequest{HostFilter: server.HostFilter{Tag: fleet.SiteTag}}, server.DefaultHostPageSize},
		{"health-failing", server.HostPageRequest{HostFilter: server.HostFilter{Health: server.HealthFailing}}, server.DefaultHostPageSize},
		{"search", server.HostPageRequest{HostFilter: server.HostFilter{Query: "host-09"}}, server.DefaultHostPageSize},
		{"tag-and-health", server.HostPageRequest{HostFilter: server.HostFilter{Tag: fleet.RoleTag, Health: server.HealthFailing}}, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			cpu := servertest.ProcessCPU()
			for b.Loop() {
				p, err := s.ListHostsPage(ctx, c.req)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Hosts) < c.min {
					b.Fatalf("%d hosts, want at least %d", len(p.Hosts), c.min)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
			b.ReportMetric(float64((servertest.ProcessCPU()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/page")
		})
	}
	b.Run("counts", func(b *testing.B) {
		cpu := servertest.ProcessCPU()
		for b.Loop() {
			c, err := s.CountFleet(ctx)
			if err != nil || c.Total != fleet.Hosts {
				b.Fatalf("%+v %v", c, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		b.ReportMetric(float64((servertest.ProcessCPU()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	})
	b.Run("whole-fleet", func(b *testing.B) {
		cpu := servertest.ProcessCPU()
		for b.Loop() {
			hosts, err := s.ListHosts(ctx)
			if err != nil || len(hosts) != fleet.Hosts {
				b.Fatalf("%d hosts, %v", len(hosts), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		b.ReportMetric(float64((servertest.ProcessCPU()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	})
}
