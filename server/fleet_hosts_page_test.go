package server_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// pageNames lists the names of one page's hosts.
func pageNames(p *server.HostPage) []string {
	var out []string
	for _, h := range p.Hosts {
		out = append(out, h.Name)
	}
	return out
}

// allPages follows next_cursor from the first page of req and returns
// every name in the order given, checking each page's size.
func allPages(t *testing.T, s *server.Service, req server.HostPageRequest, between func(page int)) []string {
	t.Helper()
	var names []string
	for page := 0; ; page++ {
		p, err := s.ListHostsPage(t.Context(), req)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if len(p.Hosts) > req.Limit {
			t.Fatalf("page %d has %d hosts, limit %d", page, len(p.Hosts), req.Limit)
		}
		names = append(names, pageNames(p)...)
		if p.NextCursor == nil {
			return names
		}
		if len(p.Hosts) != req.Limit {
			t.Fatalf("page %d has %d hosts and a next page, want a full page of %d", page, len(p.Hosts), req.Limit)
		}
		req.Cursor = *p.NextCursor
		if between != nil {
			between(page)
		}
		if page > 100 {
			t.Fatal("more than 100 pages")
		}
	}
}

// TestHostPagesCoverEveryHostOnce: following next_cursor lists every host
// exactly once in (name, id) order, also while hosts are enrolled and
// revoked between two pages: a host that exists throughout appears once,
// one added behind the cursor is not listed twice, one added ahead of it
// appears, a revoked one is gone.
func TestHostPagesCoverEveryHostOnce(t *testing.T) {
	f := newFleetFixture(t)
	ctx := t.Context()
	ids := map[string]string{}
	for i := range 23 {
		name := fmt.Sprintf("pc-%02d", i*2) // even numbers: room for inserts between them
		ids[name] = f.host(t, name, false)
	}
	var want []string
	for n := range ids {
		want = append(want, n)
	}
	slices.Sort(want)
	if got := allPages(t, f.s, server.HostPageRequest{Limit: 5}, nil); !slices.Equal(got, want) {
		t.Fatalf("pages = %v\nwant %v", got, want)
	}
	first, err := f.s.ListHostsPage(ctx, server.HostPageRequest{})
	if err != nil || len(first.Hosts) != len(want) || first.NextCursor != nil {
		t.Fatalf("default page: %d hosts, next %v, %v; want all %d and no next page", len(first.Hosts), first.NextCursor, err, len(want))
	}

	// Between pages: enroll one behind the cursor and one ahead, revoke
	// one ahead and one behind.
	var added []string
	got := allPages(t, f.s, server.HostPageRequest{Limit: 4}, func(page int) {
		if page != 1 {
			return
		}
		f.host(t, "pc-01", false) // behind the cursor (after 8 hosts)
		f.host(t, "pc-41", false) // ahead
		added = append(added, "pc-41")
		for _, n := range []string{"pc-02", "pc-30"} {
			if err := f.s.RevokeHost(ctx, f.admin, ids[n], n); err != nil {
				t.Fatal(err)
			}
		}
	})
	want = slices.DeleteFunc(slices.Clone(want), func(n string) bool { return n == "pc-30" })
	want = append(want, added...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("pages with changes between them = %v\nwant %v", got, want)
	}
}

// TestHostPageFilters: the search text matches name, hostname, ID, OS and
// architecture case-insensitively (its % and _ are literal), the tag,
// state, health and OS filters keep what they say, filters combine, and
// CountHosts and HostIDsMatching agree with the pages.
func TestHostPageFilters(t *testing.T) {
	f := newFleetFixture(t)
	ctx := t.Context()
	lyon1 := f.host(t, "Lyon-till-1", false, "site:lyon")
	f.host(t, "lyon-till-2", false, "site:lyon", "laptop")
	f.host(t, "paris_1", false, "site:paris")
	f.host(t, "paris-2", false)

	for _, c := range []struct {
		filter server.HostFilter
		want   []string
	}{
		{server.HostFilter{}, []string{"Lyon-till-1", "lyon-till-2", "paris-2", "paris_1"}},
		{server.HostFilter{Query: "LYON"}, []string{"Lyon-till-1", "lyon-till-2"}},
		{server.HostFilter{Query: "s_"}, []string{"paris_1"}},
		{server.HostFilter{Query: "%"}, nil},
		{server.HostFilter{Query: lyon1[2:10]}, []string{"Lyon-till-1"}},
		{server.HostFilter{Query: "amd64"}, []string{"Lyon-till-1", "lyon-till-2", "paris-2", "paris_1"}},
		{server.HostFilter{Tag: "Site:Lyon"}, []string{"Lyon-till-1", "lyon-till-2"}},
		{server.HostFilter{Tag: "laptop", Query: "till"}, []string{"lyon-till-2"}},
		{server.HostFilter{Tag: "nobody"}, nil},
		{server.HostFilter{OS: "Linux"}, []string{"Lyon-till-1", "lyon-till-2", "paris-2", "paris_1"}},
		{server.HostFilter{OS: "windows"}, nil},
		{server.HostFilter{State: server.HostOffline}, []string{"Lyon-till-1", "lyon-till-2", "paris-2", "paris_1"}},
		{server.HostFilter{State: server.HostOnline}, nil},
		{server.HostFilter{Health: server.HealthPending}, []string{"Lyon-till-1", "lyon-till-2", "paris-2", "paris_1"}},
		{server.HostFilter{Health: server.HealthFailing}, nil},
	} {
		got := allPages(t, f.s, server.HostPageRequest{HostFilter: c.filter, Limit: 3}, nil)
		if !slices.Equal(got, c.want) {
			t.Errorf("%+v: %v, want %v", c.filter, got, c.want)
		}
		n, err := f.s.CountHosts(ctx, c.filter)
		if err != nil || n != len(c.want) {
			t.Errorf("%+v: count %d %v, want %d", c.filter, n, err, len(c.want))
		}
		ids, err := f.s.HostIDsMatching(ctx, c.filter)
		if err != nil || len(ids) != len(c.want) {
			t.Errorf("%+v: ids %v %v, want %d", c.filter, ids, err, len(c.want))
		}
	}
}

// TestHostPageStateAndHealth: the state filter follows presence once it
// is flushed, and the health filter follows the health the evaluator
// stores: a host whose backup failed is listed under "failing" within a
// round of the health store, without a CheckHealth, and the fleet's
// counts follow.
func TestHostPageStateAndHealth(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	good, goodAgent := f.healthHost(t, "good-1")
	bad, badAgent := f.healthHost(t, "bad-1")
	f.backupNow(t, good, goodAgent, topics.JobSucceeded)
	f.backupNow(t, bad, badAgent, topics.JobFailed)
	if err := f.s.Presence().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	online := allPages(t, f.s, server.HostPageRequest{HostFilter: server.HostFilter{State: server.HostOnline}, Limit: 10}, nil)
	if !slices.Equal(online, []string{"bad-1", "good-1"}) {
		t.Errorf("online: %v, want bad-1 and good-1", online)
	}
	waitFor(t, "bad-1 listed as failing", func() bool {
		got := allPages(t, f.s, server.HostPageRequest{HostFilter: server.HostFilter{Health: server.HealthFailing}, Limit: 10}, nil)
		return slices.Equal(got, []string{"bad-1"})
	})
	waitFor(t, "good-1 listed as ok", func() bool {
		got := allPages(t, f.s, server.HostPageRequest{HostFilter: server.HostFilter{Health: server.HealthOK}, Limit: 10}, nil)
		return slices.Equal(got, []string{"good-1"})
	})
	c, err := f.s.CountFleet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// web-1 (the fixture's host) never connected.
	if c.Total != 3 || c.Online != 2 || c.NeverConnected != 1 || c.Offline != 0 ||
		c.Health[server.HealthFailing] != 1 || c.Health[server.HealthOK] != 1 || c.Health[server.HealthPending] != 1 {
		t.Errorf("counts = %+v", c)
	}
	// The row carries the live health, the same word.
	p, err := f.s.ListHostsPage(ctx, server.HostPageRequest{HostFilter: server.HostFilter{Health: server.HealthFailing}})
	if err != nil || len(p.Hosts) != 1 || p.Hosts[0].Health != server.HealthFailing || p.Hosts[0].ID != bad {
		t.Fatalf("failing page: %+v %v", p, err)
	}
}

// TestHostPageRefusals: every malformed parameter is refused with a
// sentence naming it, and nothing is listed.
func TestHostPageRefusals(t *testing.T) {
	f := newFleetFixture(t)
	f.host(t, "one", false)
	for _, c := range []struct {
		req  server.HostPageRequest
		want string
	}{
		{server.HostPageRequest{Limit: -1}, "page size (limit)"},
		{server.HostPageRequest{Limit: server.MaxHostPageSize + 1}, "page size (limit)"},
		{server.HostPageRequest{Cursor: "!!!"}, "cursor"},
		{server.HostPageRequest{Cursor: "bm9zZXBhcmF0b3I"}, "cursor"}, // "noseparator"
		{server.HostPageRequest{HostFilter: server.HostFilter{State: "sleeping"}}, "state filter"},
		{server.HostPageRequest{HostFilter: server.HostFilter{Health: "great"}}, "health filter"},
		{server.HostPageRequest{HostFilter: server.HostFilter{Tag: "a b"}}, "ag"},
		{server.HostPageRequest{HostFilter: server.HostFilter{OS: "lin ux"}}, "OS filter"},
		{server.HostPageRequest{HostFilter: server.HostFilter{Query: strings.Repeat("x", 101)}}, "search text (q)"},
	} {
		p, err := f.s.ListHostsPage(t.Context(), c.req)
		if server.ErrorCodeOf(err) != server.CodeInvalid || !strings.Contains(server.PublicMessage(err), c.want) || p != nil {
			t.Errorf("%+v: %v %v, want invalid naming %q", c.req, p, err, c.want)
		}
	}
	for _, s := range []string{"0", "x", "-3", "1.5"} {
		if _, err := server.ParseHostPageLimit(s); server.ErrorCodeOf(err) != server.CodeInvalid {
			t.Errorf("limit %q: %v, want invalid", s, err)
		}
	}
}
