package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// upgrader carries out an upgrade command (topics.Upgrade): download over
// the pinned TLS, verify, let the running job finish and hold the others,
// swap the executable, and stop the agent so that the caller restarts it
// (RestartAfterUpgrade). The new binary's hello proves the upgrade; its
// GuardUpgrade rolls back if that hello does not come. One upgrade at a
// time; a repeat of a finished one is answered with its recorded report.
type upgrader struct {
	a *Agent
	// restart stops Run with ErrRestart.
	restart context.CancelCauseFunc

	mu      sync.Mutex
	current string // id of the upgrade in progress, "" none
	// wg is the upgrade in progress; Run waits for it before it closes
	// the state.
	wg sync.WaitGroup
}

// WithUpgradeGuard hands Run the probation GuardUpgrade started: the first
// hello confirms it; if it rolls back first, Run stops with ErrRestart.
func WithUpgradeGuard(g *UpgradeGuard) Option {
	return func(a *Agent) { a.upgradeGuard = g }
}

// startUpgrader prepares the upgrader for one Run and watches the guard.
func (a *Agent) startUpgrader(ctx context.Context, restart context.CancelCauseFunc) {
	a.upgrades = &upgrader{a: a, restart: restart}
	if g := a.upgradeGuard; g != nil {
		go func() {
			select {
			case <-ctx.Done():
			case <-g.RolledBack():
				a.log.Warn("restarting into the previous agent binary")
				restart(ErrRestart)
			}
		}()
	}
}

// upgradeAfterHello runs once a hello is acknowledged: it ends the
// probation of a new binary and repeats the last upgrade report.
func (a *Agent) upgradeAfterHello() {
	if g := a.upgradeGuard; g != nil {
		g.Confirm()
	}
	if r := loadUpgradeReport(a.cfg.StateDir, a.cfg.HostID); r != nil {
		a.publishUpgradeReport(r)
	}
}

// handleUpgrade receives an upgrade command from the dispatcher.
func (a *Agent) handleUpgrade(payload []byte) {
	var c topics.Upgrade
	if err := topics.DecodeFrom(payload, a.cfg.HostID, &c); err != nil {
		a.log.Warn("dropped malformed message", "topic", topics.CmdTopic(a.cfg.HostID), "bytes", len(payload), "err", clipText(err.Error()))
		return
	}
	u := a.upgrades
	if r := loadUpgradeReport(a.cfg.StateDir, a.cfg.HostID); r != nil && r.Upgrade == c.ID && topics.UpgradeTerminal(r.State) {
		a.log.Info("upgrade command seen before: sending its outcome again", "upgrade", c.ID, "state", r.State)
		a.publishUpgradeReport(r)
		return
	}
	if c.Version == Version {
		a.reportUpgrade(&c, topics.UpgradeDone, "")
		return
	}
	u.mu.Lock()
	busy := u.current
	if busy == "" {
		u.current = c.ID
	}
	u.mu.Unlock()
	if busy != "" {
		a.log.Info("upgrade command while another upgrade is in progress; ignored (the server sends it again after the next hello)",
			"upgrade", c.ID, "in_progress", busy)
		return
	}
	a.log.Info("upgrade", "upgrade", c.ID, "from", Version, "to", c.Version, "size", c.Size)
	a.reportUpgrade(&c, topics.UpgradeDelivered, "")
	u.wg.Go(func() { u.run(&c) })
}

// run carries out c; on failure the old binary keeps running and the
// failure is reported.
func (u *upgrader) run(c *topics.Upgrade) {
	a := u.a
	err := u.perform(c)
	if err == nil {
		return // Run is stopping; the new binary takes over
	}
	a.jobs.setPaused(false)
	if a.stopping.Err() != nil {
		// Stopped, not failed: the report stays "delivered", the server
		// sends the command again after the next hello, and the download
		// resumes from its partial file.
		a.log.Info("upgrade interrupted by the agent's stop; it continues after the next start", "upgrade", c.ID)
		return
	}
	a.log.Error("upgrade failed; this agent keeps running", "upgrade", c.ID, "to", c.Version, "err", err)
	a.reportUpgrade(c, topics.UpgradeFailed, err.Error())
	u.mu.Lock()
	u.current = ""
	u.mu.Unlock()
}

// perform does the upgrade up to the restart.
func (u *upgrader) perform(c *topics.Upgrade) error {
	a := u.a
	ctx := a.stopping
	exe, err := currentExecutable()
	if err != nil {
		return err
	}
	client, endpoint, err := a.upgradeClient(c.Path)
	if err != nil {
		return err
	}
	d := &binaryDownload{client: client, url: endpoint, dir: filepath.Join(a.cfg.StateDir, upgradeDownloadDir), want: c, log: a.log}
	part, err := d.fetch(ctx)
	if err != nil {
		return fmt.Errorf("download %s: %w", c.Path, err)
	}
	staged, err := stageBinary(part, exe)
	if err != nil {
		return err
	}
	if err := preflight(ctx, staged, c.Version); err != nil {
		os.Remove(staged)
		return err
	}
	// No new job starts from here; the running one finishes first. Jobs
	// waiting stay journaled and run on the new binary.
	if err := a.jobs.pauseAndWait(ctx); err != nil {
		os.Remove(staged)
		return err
	}
	m := &upgradeMarker{Upgrade: c.ID, From: Version, To: c.Version, Exe: exe, Previous: exe + ".previous", SwappedAt: time.Now().UTC()}
	if err := saveUpgradeMarker(a.cfg.StateDir, m); err != nil {
		os.Remove(staged)
		return err
	}
	if _, err := swapBinary(staged, exe); err != nil {
		os.Remove(filepath.Join(a.cfg.StateDir, upgradeMarkerFile))
		os.Remove(staged)
		return err
	}
	os.Remove(part)
	a.log.Info("new agent binary in place; restarting", "exe", exe, "previous", m.Previous, "to", c.Version)
	u.restart(ErrRestart)
	return nil
}

// upgradeClient is the HTTP client to the server and the download URL: the
// pinned CA of the config for https, no overall timeout (a slow link takes
// its time; the download's idle watchdog catches a dead one).
func (a *Agent) upgradeClient(path string) (*http.Client, string, error) {
	if a.cfg.ServerURL == "" {
		return nil, "", fmt.Errorf("the agent config has no server_url to download from; enroll again or add server_url")
	}
	base, err := url.Parse(a.cfg.ServerURL)
	if err != nil {
		return nil, "", fmt.Errorf("server_url: %w", err)
	}
	var pin []byte
	if base.Scheme == "https" && a.ca != nil {
		pin = topics.FingerprintPin(a.ca.Raw)
	}
	client := serverHTTPClient(base.Hostname(), pin)
	client.Timeout = 0
	return client, strings.TrimRight(base.String(), "/") + path, nil
}

// reportUpgrade records a report for c and sends it now if connected (and
// after every hello until a newer upgrade replaces it).
func (a *Agent) reportUpgrade(c *topics.Upgrade, state, reason string) {
	r := &topics.UpgradeReport{Envelope: topics.NewEnvelope(topics.TypeUpgradeReport, a.cfg.HostID), Upgrade: c.ID,
		State: state, From: Version, To: c.Version, Reason: clipText(reason)}
	if err := saveUpgradeReport(a.cfg.StateDir, r); err != nil {
		a.log.Error("cannot record the upgrade report", "err", err)
	}
	a.publishUpgradeReport(r)
}

// publishUpgradeReport sends r (QoS 1) if connected. A lost one is sent
// again after the next hello.
func (a *Agent) publishUpgradeReport(r *topics.UpgradeReport) {
	client := a.sender.current()
	if client == nil {
		return
	}
	b, err := topics.Encode(r)
	if err != nil {
		a.log.Error("encode upgrade report", "err", err)
		return
	}
	client.Publish(topics.Topic{Kind: topics.KindUpgrade, Host: a.cfg.HostID}.String(), 1, false, b)
}

// isUpgradeCommand reports whether a down/cmd payload is an upgrade (its
// envelope type), which has its own type; everything else is a job command.
func isUpgradeCommand(payload []byte) bool {
	if len(payload) > topics.MaxPayload {
		return false
	}
	var head struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(payload, &head) == nil && head.Type == topics.TypeUpgrade
}
