package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// TestBrowserUpgradeAllOutdated: the fleet view marks a host whose agent is
// older than the served build "outdated"; the admin presses "Upgrade all
// outdated" on the Agent upgrades card, the dashboard says so and the row
// shows the request; when the agent reports a rollback, the row shows it
// live, without a reload.
func TestBrowserUpgradeAllOutdated(t *testing.T) {
	t.Parallel()
	agentsDir, build := t.TempDir(), filepath.Join(t.TempDir(), "agent")
	if err := os.WriteFile(build, []byte("agent 9.9.9"), 0o755); err != nil {
		t.Fatal(err)
	}
	serveAgentBuild(t, agentsDir, build, "9.9.9")
	m := startServer(t, filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", func(m *Main) { m.AgentsDir = agentsDir })
	tok := cli(t, "", "token", "create", "--host", "office-pc", "--data", m.DataDir)
	res, err := m.Service().Enroll(t.Context(), server.EnrollRequest{Token: tok, Hostname: "office-pc", OS: runtime.GOOS,
		Arch: runtime.GOARCH, AgentVersion: "1.0.0", RemoteAddr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	host := res.HostID
	ctx := newBrowser(t)
	signIn(t, ctx, m)
	openDashboard(t, ctx, m)

	var row, notice string
	browse(t, ctx,
		chromedp.WaitVisible(`#agent-upgrades`, chromedp.ByQuery),
		chromedp.Text(`#host-`+host, &row, chromedp.ByQuery),
	)
	if !strings.Contains(row, "outdated") {
		t.Fatalf("the fleet row does not say outdated: %q", row)
	}
	browse(t, ctx,
		chromedp.Click(`#agent-upgrades button[name="outdated"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`.alert-ok`, chromedp.ByQuery),
		chromedp.Text(`.alert-ok`, &notice, chromedp.ByQuery),
	)
	if !strings.Contains(notice, "Asked 1 host(s) to upgrade") {
		t.Fatalf("notice: %q", notice)
	}
	waitJS(t, ctx, "the row to show the request",
		`document.querySelector('#host-`+host+`').textContent.includes('upgrade to 9.9.9 requested')`, 10*time.Second)
	screenshot(t, ctx, "upgrade-requested")

	u, err := m.Service().HostUpgrade(t.Context(), host)
	if err != nil || u == nil {
		t.Fatalf("stored upgrade: %v %v", u, err)
	}
	report := &topics.UpgradeReport{Envelope: topics.NewEnvelope(topics.TypeUpgradeReport, host), Upgrade: u.UpgradeID,
		State: topics.UpgradeRolledBack, From: "1.0.0", To: "9.9.9",
		Reason: "upgrade to 9.9.9 failed, rolled back to 1.0.0: the new agent did not connect and say hello within 2m0s"}
	payload, err := topics.Encode(report)
	if err != nil {
		t.Fatal(err)
	}
	// As the broker hands the agent's message to the server.
	m.Service().HandleMessage(topics.Topic{Kind: topics.KindUpgrade, Host: host}.String(), payload, host, 1)
	waitJS(t, ctx, "the row to show the rollback live",
		`document.querySelector('#host-`+host+`').textContent.includes('rolled back to 1.0.0') &&
		 document.querySelector('#host-`+host+`').textContent.includes('did not connect and say hello')`, 10*time.Second)
	screenshot(t, ctx, "upgrade-rolled-back")
}
