package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/agenttest"
)

type pendingJSON struct {
	ID          int64  `json:"id"`
	Fingerprint string `json:"fingerprint"`
	Hostname    string `json:"hostname"`
	SourceAddr  string `json:"source_addr"`
}

var bannerFingerprintRE = regexp.MustCompile(`Fingerprint:\s+(SHA256:[A-Za-z0-9+/]+)`)

// TestAnnounceAcceptRejectEndToEnd: the real agent binary announces over the
// server's HTTPS (pinned CA) and MQTTS, prints its fingerprint, shows up as a
// pending host with the same fingerprint, and once accepted through the API
// runs as the new host in the same process. A second machine is rejected and
// its agent exits non-zero with a clear message.
func TestAnnounceAcceptRejectEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	m := startServer(t, data, "127.0.0.1:0")
	api := apiClient{t: t, base: m.HTTPURL(), token: cli(t, "", "apitoken", "create", "--user", "admin", "--data", data)}
	fp := m.TLS().Fingerprint

	announce := func(name string) (*agentProc, string, string) {
		cfg := filepath.Join(dir, name, "agent.yaml")
		p := startAgentArgs(t, "announce", "--server", m.HTTPSURL(), "--ca-fingerprint", fp,
			"--config", cfg, "--state-dir", filepath.Join(dir, name, "state"))
		var printed string
		waitFor(t, name+"'s banner", 20*time.Second, func() bool {
			if mm := bannerFingerprintRE.FindStringSubmatch(p.logs.String()); mm != nil {
				printed = mm[1]
				return true
			}
			return p.exited()
		})
		if printed == "" {
			t.Fatalf("%s exited without a banner:\n%s", name, p.logs)
		}
		return p, printed, cfg
	}
	pending := func(fingerprint string) *pendingJSON {
		var list struct {
			Pending []pendingJSON `json:"pending_hosts"`
		}
		api.do("GET", "/api/v1/pending-hosts", nil, &list)
		for _, p := range list.Pending {
			if p.Fingerprint == fingerprint {
				return &p
			}
		}
		return nil
	}

	till, tillFP, tillCfg := announce("till")
	var row *pendingJSON
	waitFor(t, "the pending row with the printed fingerprint", 10*time.Second, func() bool { row = pending(tillFP); return row != nil })
	if !strings.HasPrefix(row.SourceAddr, "127.0.0.1") || row.Hostname == "" {
		t.Fatalf("pending row %+v", row)
	}
	pid := till.cmd.Process.Pid

	var accepted struct {
		HostID string `json:"host_id"`
	}
	// Accept with repository credentials: the new host's repository is set
	// and initialised as soon as its agent switches over.
	agenttest.RequireBinary(t, "restic")
	repo := filepath.Join(dir, "till-repo")
	if code := api.do("POST", "/api/v1/pending-hosts/"+itoa(row.ID)+"/accept", map[string]any{"name": "till-1",
		"repository": map[string]any{"url": repo, "password": "till repository password"}}, &accepted); code != http.StatusOK {
		t.Fatalf("accept: HTTP %d", code)
	}
	waitFor(t, "the accepted machine online as a host", 20*time.Second, func() bool {
		var h hostJSON
		return api.do("GET", "/api/v1/hosts/"+accepted.HostID, nil, &h) == http.StatusOK && h.Online && h.Name == "till-1"
	})
	if till.exited() || till.cmd.Process.Pid != pid {
		t.Fatalf("the agent restarted or exited instead of switching in place:\n%s", till.logs)
	}
	if fi, err := os.Stat(tillCfg); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config after approval: %v", err)
	}
	if pending(tillFP) != nil {
		t.Fatal("the accepted machine is still listed as pending")
	}
	waitFor(t, "the accepted host's repository to be initialised", 60*time.Second, func() bool {
		var list struct {
			Jobs []jobJSON `json:"jobs"`
		}
		api.do("GET", "/api/v1/jobs?host="+accepted.HostID+"&kind=init", nil, &list)
		if len(list.Jobs) == 1 && list.Jobs[0].terminal() && list.Jobs[0].Status != "succeeded" {
			t.Fatalf("init job of the accepted host: %+v\n%s", list.Jobs[0], till.logs)
		}
		return len(list.Jobs) == 1 && list.Jobs[0].Status == "succeeded"
	})
	if _, err := os.Stat(filepath.Join(repo, "config")); err != nil {
		t.Fatalf("the repository was not created: %v", err)
	}

	kiosk, kioskFP, _ := announce("kiosk")
	waitFor(t, "the second pending row", 10*time.Second, func() bool { row = pending(kioskFP); return row != nil })
	if code := api.do("POST", "/api/v1/pending-hosts/"+itoa(row.ID)+"/reject", nil, nil); code != http.StatusOK {
		t.Fatalf("reject: HTTP %d", code)
	}
	waitFor(t, "the rejected agent to exit", 20*time.Second, kiosk.exited)
	if kiosk.cmd.ProcessState.ExitCode() == 0 || !strings.Contains(strings.ToLower(kiosk.logs.String()), "rejected") {
		t.Fatalf("rejected agent: exit %d, output:\n%s", kiosk.cmd.ProcessState.ExitCode(), kiosk.logs)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
