package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// What an upgrade keeps in state_dir (next to the outbox and the journal,
// which it never touches).
const (
	// upgradeMarkerFile exists from the swap until the new binary has said
	// hello or has been rolled back: "upgrade in progress from X to V, the
	// previous binary is at P".
	upgradeMarkerFile = "upgrade_marker.json"
	// upgradeReportFile is the last upgrade report, sent after every hello
	// until a newer upgrade replaces it.
	upgradeReportFile = "upgrade_report.json"
	// upgradeDownloadDir holds partial downloads, named by their sha256.
	upgradeDownloadDir = "upgrade"
)

// DefaultUpgradeProbation is how long a new agent binary has to connect and
// say hello before it is rolled back; RM_AGENT_UPGRADE_PROBATION (a Go
// duration) overrides it, for tests.
const DefaultUpgradeProbation = 2 * time.Minute

// maxUpgradeStarts is how often a new binary may start without saying
// hello (a crash loop under a service manager) before it is rolled back.
const maxUpgradeStarts = 3

// ErrRestart is returned by Run (and GuardUpgrade) when the agent stopped to
// restart itself: a new binary is in place, or an old one was restored.
// The caller restarts the process (RestartAfterUpgrade).
var ErrRestart = errors.New("agent: restarting to finish an upgrade")

// upgradeMarker is the content of upgradeMarkerFile.
type upgradeMarker struct {
	Upgrade   string    `json:"upgrade"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Exe       string    `json:"exe"`
	Previous  string    `json:"previous"`
	Starts    int       `json:"starts"`
	SwappedAt time.Time `json:"swapped_at"`
}

// UpgradeGuard watches a new agent binary on probation: if it has not said
// hello by its deadline, it restores the previous binary. It is nil when no
// upgrade is in progress.
type UpgradeGuard struct {
	stateDir string
	log      *slog.Logger
	marker   upgradeMarker

	mu      sync.Mutex
	settled bool
	failed  chan struct{} // closed once the guard rolled back
	timer   *time.Timer
}

// GuardUpgrade is the first thing a starting agent does: it looks for an
// upgrade in progress in cfg's state_dir. Without one it returns nil, nil.
// With one, this process is the new binary on probation: it counts the
// start and returns a guard whose deadline (probation) rolls back to the
// previous binary unless Confirm comes first. A binary that has started too
// often without saying hello, or a process that is not the version the
// upgrade installed, settles it at once: the first is rolled back (and
// ErrRestart returned: restart into the restored binary), the second is
// reported failed.
func GuardUpgrade(cfg *Config, log *slog.Logger, probation time.Duration) (*UpgradeGuard, error) {
	if log == nil {
		log = slog.Default()
	}
	path := filepath.Join(cfg.StateDir, upgradeMarkerFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: read %s: %w", path, err)
	}
	g := &UpgradeGuard{stateDir: cfg.StateDir, log: log, failed: make(chan struct{})}
	if err := json.Unmarshal(data, &g.marker); err != nil || g.marker.Upgrade == "" || g.marker.Exe == "" {
		log.Error("the upgrade marker is unreadable; removing it", "path", path, "err", err)
		os.Remove(path)
		return nil, nil
	}
	m := &g.marker
	if Version != m.To {
		g.finish(topics.UpgradeFailed, fmt.Sprintf("after the upgrade to %s the agent still runs %s", m.To, Version))
		return nil, nil
	}
	m.Starts++
	if m.Starts > maxUpgradeStarts {
		return nil, g.rollback(fmt.Sprintf("the new agent started %d times without saying hello to the server", m.Starts-1))
	}
	if err := g.saveMarker(); err != nil {
		return nil, err
	}
	if probation <= 0 {
		probation = upgradeProbation()
	}
	log.Info("upgraded agent on probation: it must say hello to the server in time or the previous binary comes back",
		"from", m.From, "to", m.To, "start", m.Starts, "deadline", probation)
	g.timer = time.AfterFunc(probation, func() {
		if g.rollback(fmt.Sprintf("the new agent did not connect and say hello within %s", probation)) != nil {
			close(g.failed)
		}
	})
	return g, nil
}

// upgradeProbation is DefaultUpgradeProbation or RM_AGENT_UPGRADE_PROBATION.
func upgradeProbation() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("RM_AGENT_UPGRADE_PROBATION")); err == nil && d > 0 {
		return d
	}
	return DefaultUpgradeProbation
}

// RolledBack is closed when the guard has restored the previous binary: the
// process must stop and restart (RestartAfterUpgrade).
func (g *UpgradeGuard) RolledBack() <-chan struct{} { return g.failed }

// Confirm ends the probation: the new binary said hello. It records the
// upgrade done (the report goes to the server after this hello and the
// next ones) and removes the marker. It reports false if the guard rolled
// back first.
func (g *UpgradeGuard) Confirm() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.settled {
		return false
	}
	g.settled = true
	g.timer.Stop()
	g.finishLocked(topics.UpgradeDone, "")
	g.log.Info("upgrade done", "from", g.marker.From, "to", g.marker.To)
	return true
}

// rollback restores the previous binary, records why and returns ErrRestart;
// nil when Confirm came first.
func (g *UpgradeGuard) rollback(reason string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.settled {
		return nil
	}
	g.settled = true
	m := &g.marker
	if err := restoreBinary(m.Exe, m.Previous); err != nil {
		// Nothing else to fall back to: keep running the new binary and say so.
		g.log.Error("cannot restore the previous agent binary; the new one keeps running", "exe", m.Exe, "previous", m.Previous, "err", err)
		g.finishLocked(topics.UpgradeFailed, reason+"; restoring the previous binary failed too: "+err.Error())
		return nil
	}
	g.log.Error("upgrade rolled back", "from", m.From, "to", m.To, "reason", reason)
	g.finishLocked(topics.UpgradeRolledBack, fmt.Sprintf("upgrade to %s failed, rolled back to %s: %s", m.To, m.From, reason))
	return ErrRestart
}

// finish records the outcome without a rollback.
func (g *UpgradeGuard) finish(state, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.settled = true
	g.finishLocked(state, reason)
}

// finishLocked writes the report, then removes the marker: a crash between
// the two repeats the outcome, never loses it.
func (g *UpgradeGuard) finishLocked(state, reason string) {
	m := &g.marker
	r := &topics.UpgradeReport{Upgrade: m.Upgrade, State: state, From: m.From, To: m.To, Reason: clipText(reason)}
	if err := saveUpgradeReport(g.stateDir, r); err != nil {
		g.log.Error("cannot record the upgrade outcome", "err", err)
	}
	if err := os.Remove(filepath.Join(g.stateDir, upgradeMarkerFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		g.log.Error("cannot remove the upgrade marker", "err", err)
	}
	syncDir(g.stateDir)
}

func (g *UpgradeGuard) saveMarker() error { return saveUpgradeMarker(g.stateDir, &g.marker) }

func saveUpgradeMarker(stateDir string, m *upgradeMarker) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(stateDir, upgradeMarkerFile), b, 0o600); err != nil {
		return fmt.Errorf("agent: upgrade marker: %w", err)
	}
	return nil
}

// saveUpgradeReport stores r (without its envelope, which is made fresh at
// every send) as the last upgrade report.
func saveUpgradeReport(stateDir string, r *topics.UpgradeReport) error {
	b, err := json.Marshal(storedReport{Upgrade: r.Upgrade, State: r.State, From: r.From, To: r.To, Reason: r.Reason})
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(stateDir, upgradeReportFile), b, 0o600)
}

// storedReport is the body of an UpgradeReport as upgradeReportFile holds it.
type storedReport struct {
	Upgrade string `json:"upgrade"`
	State   string `json:"state"`
	From    string `json:"from"`
	To      string `json:"to"`
	Reason  string `json:"reason,omitempty"`
}

// loadUpgradeReport returns the last upgrade report addressed from host, or
// nil when there is none (or it is unreadable: it is only repeated news).
func loadUpgradeReport(stateDir, host string) *topics.UpgradeReport {
	b, err := os.ReadFile(filepath.Join(stateDir, upgradeReportFile))
	if err != nil {
		return nil
	}
	var s storedReport
	if json.Unmarshal(b, &s) != nil {
		return nil
	}
	r := &topics.UpgradeReport{Envelope: topics.NewEnvelope(topics.TypeUpgradeReport, host), Upgrade: s.Upgrade,
		State: s.State, From: s.From, To: s.To, Reason: s.Reason}
	if r.Validate() != nil {
		return nil
	}
	return r
}
