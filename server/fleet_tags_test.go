package server_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
)

// TestNormalizeHostTag is the tag rule: folded to lower case, 1-40 of a-z
// 0-9 . _ - : / =, starting with a letter or digit.
func TestNormalizeHostTag(t *testing.T) {
	good := map[string]string{
		"site:lyon": "site:lyon", " Laptop ": "laptop", "a": "a", "env=prod": "env=prod", "rack/b-2.x_1": "rack/b-2.x_1",
		strings.Repeat("x", server.MaxTagLen): strings.Repeat("x", server.MaxTagLen),
	}
	for in, want := range good {
		got, err := server.NormalizeHostTag(in)
		if err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "-x", ":x", "a b", "a,b", "café", "a\x00", strings.Repeat("x", server.MaxTagLen+1)} {
		if _, err := server.NormalizeHostTag(in); server.ErrorCodeOf(err) != server.CodeInvalid {
			t.Errorf("%q: %v, want invalid", in, err)
		}
	}
}

// TestHostTags: an admin sets and edits a host's tags (folded, sorted,
// without duplicates, at most MaxHostTags), each change one host.tags
// audit row and no row for a change that changes nothing; hosts carry
// their tags in ListHosts and GetHost; HostIDsTagged finds active hosts
// only. Tags are configuration: operators and viewers are refused.
func TestHostTags(t *testing.T) {
	f := newFleetFixture(t)
	ctx := t.Context()
	a := f.host(t, "lyon-1", false)
	b := f.host(t, "lyon-2", false)

	got, err := f.s.SetHostTags(ctx, f.admin, a, []string{"site:lyon", "Laptop", "laptop"})
	if err != nil || !slices.Equal(got, []string{"laptop", "site:lyon"}) {
		t.Fatalf("set: %v %v", got, err)
	}
	if _, err := f.s.SetHostTags(ctx, f.admin, a, []string{"site:lyon", "laptop"}); err != nil {
		t.Fatal(err)
	}
	if n := len(f.audit(t, "host.tags")); n != 1 {
		t.Errorf("host.tags rows = %d, want 1 (the same tags again change nothing)", n)
	}
	if got, err = f.s.EditHostTags(ctx, f.admin, b, []string{"site:lyon", "server"}, []string{"nothing"}); err != nil ||
		!slices.Equal(got, []string{"server", "site:lyon"}) {
		t.Fatalf("edit add: %v %v", got, err)
	}
	if got, err = f.s.EditHostTags(ctx, f.admin, b, nil, []string{"SERVER"}); err != nil || !slices.Equal(got, []string{"site:lyon"}) {
		t.Fatalf("edit remove: %v %v", got, err)
	}

	many := make([]string, server.MaxHostTags+1)
	for i := range many {
		many[i] = fmt.Sprintf("t%d", i)
	}
	for name, call := range map[string]func() error{
		"too many": func() error { _, err := f.s.SetHostTags(ctx, f.admin, a, many); return err },
		"too many by edit": func() error {
			_, err := f.s.EditHostTags(ctx, f.admin, a, many[:server.MaxHostTags-1], nil)
			return err
		},
		"bad tag": func() error { _, err := f.s.SetHostTags(ctx, f.admin, a, []string{"ok", "not ok"}); return err },
	} {
		if err := call(); server.ErrorCodeOf(err) != server.CodeInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	for _, who := range []server.Actor{f.operator, f.viewer} {
		if _, err := f.s.SetHostTags(ctx, who, a, nil); server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Errorf("%s: %v, want forbidden", who.Role, err)
		}
	}
	if _, err := f.s.SetHostTags(ctx, f.admin, "h_nope", []string{"x"}); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Errorf("unknown host: %v", err)
	}

	h, err := f.s.GetHost(ctx, a)
	if err != nil || !slices.Equal(h.Tags, []string{"laptop", "site:lyon"}) {
		t.Fatalf("GetHost tags %v %v", h.Tags, err)
	}
	hosts, err := f.s.ListHosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 2 || !slices.Equal(hosts[0].Tags, []string{"laptop", "site:lyon"}) || !slices.Equal(hosts[1].Tags, []string{"site:lyon"}) {
		t.Errorf("ListHosts tags: %+v", hosts)
	}
	if ids, err := f.s.HostIDsTagged(ctx, "SITE:LYON"); err != nil || !slices.Equal(ids, []string{a, b}) {
		t.Errorf("tagged site:lyon: %v %v", ids, err)
	}
	if err := f.s.RevokeHost(ctx, f.admin, b, "lyon-2"); err != nil {
		t.Fatal(err)
	}
	if ids, err := f.s.HostIDsTagged(ctx, "site:lyon"); err != nil || !slices.Equal(ids, []string{a}) {
		t.Errorf("after revoking lyon-2, tagged site:lyon: %v %v", ids, err)
	}
}
