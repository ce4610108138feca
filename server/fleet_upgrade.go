package server

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Fleet upgrade (#11): an admin asks hosts to replace their agent with the
// build this server serves for their platform. The request is stored per
// host (agent_upgrades, one row each), sent as a topics.Upgrade on the
// host's down/cmd now and again after every hello until the agent reports
// an outcome, so a host offline now upgrades when it returns. The new
// agent_version in the host's hello is the proof of success; a failure or
// a rollback comes as a topics.UpgradeReport (fleet_upgrade_ingest.go).

// UpgradeTarget is the agent build hosts of one platform are upgraded to.
type UpgradeTarget struct {
	Version string
	SHA256  string
	Size    int64
}

// UpgradeTargets finds the build this server serves for goos/goarch; ok is
// false when it serves none. The web layer passes its agent binaries.
type UpgradeTargets func(goos, goarch string) (t UpgradeTarget, ok bool)

// AgentUpgrade is the latest upgrade asked of one host and how far it got.
type AgentUpgrade struct {
	HostID      string    `db:"host_id" json:"host_id"`
	UpgradeID   string    `db:"upgrade_id" json:"upgrade_id"`
	FromVersion string    `db:"from_version" json:"from_version"`
	ToVersion   string    `db:"to_version" json:"to_version"`
	SHA256      string    `db:"sha256" json:"sha256"`
	Size        int64     `db:"size" json:"size"`
	Path        string    `db:"path" json:"-"`
	State       string    `db:"state" json:"state"`
	Reason      string    `db:"reason" json:"reason,omitempty"`
	RequestedBy string    `db:"requested_by" json:"requested_by"`
	RequestedAt time.Time `db:"requested_at" json:"requested_at"`
	UpdatedAt   time.Time `db:"updated_at" json:"updated_at"`
}

// Terminal reports whether the upgrade is over (done, failed, rolled back).
func (u *AgentUpgrade) Terminal() bool { return topics.UpgradeTerminal(u.State) }

const upgradeColumns = `host_id, upgrade_id, from_version, to_version, sha256, size, path, state, reason,
	requested_by, requested_at, updated_at`

// UpgradeRequest selects the hosts to upgrade: the listed ones, or (Outdated)
// every host whose agent version differs from the build served for its
// platform.
type UpgradeRequest struct {
	HostIDs  []string `json:"host_ids"`
	Outdated bool     `json:"outdated"`
}

// MaxUpgradeHosts bounds one request's host list.
const MaxUpgradeHosts = 10000

// UpgradeSkip is a host a request left alone, and why.
type UpgradeSkip struct {
	HostID string `json:"host_id"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// UpgradeBatch is the answer to an upgrade request: the upgrades stored
// (and sent to the hosts online) and the hosts skipped.
type UpgradeBatch struct {
	Requested []AgentUpgrade `json:"requested"`
	Skipped   []UpgradeSkip  `json:"skipped"`
}

// Outdated reports whether a host runs another agent version than the build
// served for its platform (false when none is served or the host never said).
func Outdated(h *Host, targets UpgradeTargets) bool {
	if targets == nil || h.AgentVersion == "" {
		return false
	}
	t, ok := targets(h.OS, h.Arch)
	return ok && t.Version != h.AgentVersion
}

// RequestUpgrades asks the selected hosts to upgrade to the build served for
// their platform, in one audited action. A host already at that version, on
// a platform without a build, or that never said which platform it runs is
// skipped with the reason. Admins only.
func (s *Service) RequestUpgrades(ctx context.Context, a Actor, req UpgradeRequest, targets UpgradeTargets) (*UpgradeBatch, error) {
	if err := a.require(PermAdmin); err != nil {
		return nil, err
	}
	if len(req.HostIDs) == 0 && !req.Outdated {
		return nil, invalidf("Name the hosts to upgrade (host_ids) or ask for every outdated host (outdated: true).")
	}
	if len(req.HostIDs) > 0 && req.Outdated {
		return nil, invalidf("Ask either for the listed hosts (host_ids) or for every outdated host (outdated: true), not both.")
	}
	if len(req.HostIDs) > MaxUpgradeHosts {
		return nil, invalidf("At most %d hosts per request; split the list.", MaxUpgradeHosts)
	}
	hosts, err := s.upgradeCandidates(ctx, req)
	if err != nil {
		return nil, err
	}
	batch := &UpgradeBatch{Requested: []AgentUpgrade{}, Skipped: []UpgradeSkip{}}
	now := s.now()
	for i := range hosts {
		h := &hosts[i]
		if req.Outdated && !Outdated(h, targets) {
			continue
		}
		u, why := newUpgrade(h, targets, a, now)
		if why != "" {
			batch.Skipped = append(batch.Skipped, UpgradeSkip{HostID: h.ID, Name: h.Name, Reason: why})
			continue
		}
		batch.Requested = append(batch.Requested, u)
	}
	if len(batch.Requested) == 0 {
		return batch, nil // nothing changes, nothing to audit
	}
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		for i := range batch.Requested {
			if err := storeUpgrade(ctx, tx, &batch.Requested[i]); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, a, "agent.upgrade", fmt.Sprintf("%d hosts", len(batch.Requested)), upgradeAuditDetails(req, batch))
	})
	if err != nil {
		return nil, internal("Could not store the upgrade request", err)
	}
	for i := range batch.Requested {
		u := &batch.Requested[i]
		s.publishUpgrade(u)
		s.events.Publish(Event{Kind: EventHostUpdated, HostID: u.HostID})
	}
	return batch, nil
}

// upgradeCandidates loads the active hosts a request names (all of them for
// Outdated); an unknown or revoked id is an error naming it.
func (s *Service) upgradeCandidates(ctx context.Context, req UpgradeRequest) ([]Host, error) {
	if req.Outdated {
		return s.ListHosts(ctx)
	}
	out := make([]Host, 0, len(req.HostIDs))
	seen := map[string]bool{}
	for _, id := range req.HostIDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		h, err := s.GetHost(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, *h)
	}
	return out, nil
}

// newUpgrade builds the upgrade of host h, or says why there is none.
func newUpgrade(h *Host, targets UpgradeTargets, a Actor, now time.Time) (AgentUpgrade, string) {
	if h.OS == "" || h.Arch == "" || h.AgentVersion == "" {
		return AgentUpgrade{}, "the host has not said which agent and platform it runs yet (it has never connected)"
	}
	var t UpgradeTarget
	ok := false
	if targets != nil {
		t, ok = targets(h.OS, h.Arch)
	}
	switch {
	case !ok:
		return AgentUpgrade{}, fmt.Sprintf("this server has no agent build for %s/%s; build it with make agents", h.OS, h.Arch)
	case topics.CheckAgentVersion(t.Version) != nil || t.Version == "unknown":
		return AgentUpgrade{}, "the agent builds this server serves have no version (no VERSION file next to them); rebuild them with make agents"
	case t.Version == h.AgentVersion:
		return AgentUpgrade{}, "the host already runs " + t.Version
	case !topics.ValidSHA256Hex(t.SHA256) || t.Size < 1 || t.Size > topics.MaxAgentBinary:
		return AgentUpgrade{}, fmt.Sprintf("the agent build for %s/%s is not a usable binary (size %d)", h.OS, h.Arch, t.Size)
	}
	return AgentUpgrade{
		HostID: h.ID, UpgradeID: topics.NewMessageID(), FromVersion: h.AgentVersion, ToVersion: t.Version,
		SHA256: t.SHA256, Size: t.Size, Path: topics.AgentBinaryPathFor(h.OS, h.Arch), State: topics.UpgradeRequested,
		RequestedBy: a.Name, RequestedAt: now, UpdatedAt: now,
	}, ""
}

// storeUpgrade replaces the host's upgrade row with u.
func storeUpgrade(ctx context.Context, tx *sqlx.Tx, u *AgentUpgrade) error {
	_, err := tx.NamedExecContext(ctx, `INSERT INTO agent_upgrades (`+upgradeColumns+`) VALUES (:host_id, :upgrade_id,
		:from_version, :to_version, :sha256, :size, :path, :state, :reason, :requested_by, :requested_at, :updated_at)
		ON CONFLICT (host_id) DO UPDATE SET upgrade_id = excluded.upgrade_id, from_version = excluded.from_version,
		to_version = excluded.to_version, sha256 = excluded.sha256, size = excluded.size, path = excluded.path,
		state = excluded.state, reason = excluded.reason, requested_by = excluded.requested_by,
		requested_at = excluded.requested_at, updated_at = excluded.updated_at`, u)
	if err != nil {
		return fmt.Errorf("store upgrade of %s: %w", u.HostID, err)
	}
	return nil
}

// upgradeAuditDetails is the one audit row of a request: who is upgraded to
// what, and who was skipped.
func upgradeAuditDetails(req UpgradeRequest, b *UpgradeBatch) map[string]any {
	hosts := make([]map[string]string, len(b.Requested))
	for i, u := range b.Requested {
		hosts[i] = map[string]string{"host_id": u.HostID, "from": u.FromVersion, "to": u.ToVersion}
	}
	d := map[string]any{"hosts": hosts, "outdated": req.Outdated}
	if len(b.Skipped) > 0 {
		d["skipped"] = b.Skipped
	}
	return d
}

// command is the wire form of u.
func (u *AgentUpgrade) command() *topics.Upgrade {
	env := topics.NewEnvelope(topics.TypeUpgrade, u.HostID)
	env.ID = u.UpgradeID
	return &topics.Upgrade{Envelope: env, Version: u.ToVersion, SHA256: u.SHA256, Size: u.Size, Path: u.Path}
}

// publishUpgrade sends u's command on the host's down/cmd (QoS 1). An
// offline host gets it after its next hello.
func (s *Service) publishUpgrade(u *AgentUpgrade) {
	pub := s.publisher()
	if pub == nil {
		return
	}
	b, err := topics.Encode(u.command())
	if err == nil {
		err = pub.Publish(topics.CmdTopic(u.HostID), b, false, 1)
	}
	if err != nil {
		s.log.Warn("upgrade: publish command", "host", u.HostID, "upgrade", u.UpgradeID, "err", err)
	}
}

// HostUpgrade returns the latest upgrade asked of a host; nil when none.
func (s *Service) HostUpgrade(ctx context.Context, hostID string) (*AgentUpgrade, error) {
	var u AgentUpgrade
	err := s.db.getPrepared(ctx, &u, `SELECT `+upgradeColumns+` FROM agent_upgrades WHERE host_id = ?`, hostID)
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, internal("Could not load the host's agent upgrade", err)
	}
	return &u, nil
}

// HostUpgrades returns the latest upgrade of every host that has one, by host id.
func (s *Service) HostUpgrades(ctx context.Context) (map[string]*AgentUpgrade, error) {
	var rows []AgentUpgrade
	if err := s.db.SelectContext(ctx, &rows, `SELECT `+upgradeColumns+` FROM agent_upgrades`); err != nil {
		return nil, internal("Could not load the agent upgrades", err)
	}
	out := make(map[string]*AgentUpgrade, len(rows))
	for i := range rows {
		out[rows[i].HostID] = &rows[i]
	}
	return out, nil
}
