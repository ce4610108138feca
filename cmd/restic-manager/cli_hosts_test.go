package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
)

// TestCLIHostTags: "host tag" reads and changes a host's tags by name or
// ID while the server runs (the server's API sees them at once), each
// change audited as host.tags by the CLI; a bad tag, an unknown host or
// verb is one sentence and changes nothing.
func TestCLIHostTags(t *testing.T) {
	t.Parallel()
	data := t.TempDir() + "/data"
	m := startServer(t, data, "127.0.0.1:0")
	tok := cli(t, "", "token", "create", "--host", "shop-1", "--data", data)
	res, err := m.Service().Enroll(t.Context(), server.EnrollRequest{Token: tok, Hostname: "shop-1", OS: "linux", Arch: "amd64", AgentVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}

	if out := cli(t, "", "host", "tag", "shop-1", "add", "Site:Lyon", "laptop", "--data", data); out != "laptop\nsite:lyon" {
		t.Errorf("add printed %q", out)
	}
	if out := cli(t, "", "host", "tag", res.HostID, "remove", "laptop", "--data", data); out != "site:lyon" {
		t.Errorf("remove by ID printed %q", out)
	}
	if out := cli(t, "", "host", "tag", "shop-1", "--data", data); out != "site:lyon" {
		t.Errorf("tags printed %q", out)
	}
	if h, err := m.Service().GetHost(t.Context(), res.HostID); err != nil || !slices.Equal(h.Tags, []string{"site:lyon"}) {
		t.Errorf("the server sees %v %v", h.Tags, err)
	}
	rows, err := m.Service().ListAudit(t.Context(), server.AuditFilter{Action: "host.tags"})
	if err != nil || len(rows) != 2 || rows[0].Via != "cli" {
		t.Errorf("host.tags rows: %+v %v", rows, err)
	}

	for args, want := range map[string]string{
		"host tag shop-1 add not*ok": "A tag is 1-40 letters",
		"host tag nowhere add x":     `there is no host named "nowhere"`,
		"host tag shop-1 rename x":   `unknown host tag command "rename"`,
		"host tag shop-1 add":        "needs at least one tag",
		"host list extra":            "host list takes no arguments",
		"host list --tag a,b":        "A tag is 1-40 letters",
		"host list --health great":   "The health filter is ok, overdue, failing, offline or pending",
		"host list --state asleep":   "The state filter is online or offline",
	} {
		if msg := cliFails(t, "", append(strings.Fields(args), "--data", data)...); !strings.Contains(msg, want) {
			t.Errorf("%s: %q, want %q", args, msg, want)
		}
	}
	if h, _ := m.Service().GetHost(t.Context(), res.HostID); !slices.Equal(h.Tags, []string{"site:lyon"}) {
		t.Errorf("a refused command changed the tags: %v", h.Tags)
	}
	// host list takes the API's filters (#15).
	want := "shop-1\t" + res.HostID + "\tnever-connected\tsite:lyon"
	if out := cli(t, "", "host", "list", "--q", "SHOP", "--health", "pending", "--state", "offline", "--os", "linux", "--data", data); out != want {
		t.Errorf("host list with filters printed %q, want %q", out, want)
	}
	if out := cli(t, "", "host", "list", "--q", "nothing-like-it", "--data", data); out != "" {
		t.Errorf("host list matching nothing printed %q", out)
	}
}
