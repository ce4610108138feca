package server

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// A host's desired config (topics.Config) is built in one place, hostConfig,
// from its rows: the sealed repository, the source groups, the schedules and
// the bandwidth caps. Every change to any of them goes the same way:
//
//  1. inside the change's transaction: change the rows, bumpConfigVersion,
//     checkConfig (the built config must pass topics' validation, so a
//     change that would make an invalid config is refused and rolled back),
//     audit;
//  2. after the commit: publishConfig (QoS 1, not retained) and
//     EventConfigChanged on the bus.
//
// A host that misses the publish gets the config after its next hello
// (afterHello compares versions and publishes the same build).

// bumpConfigVersion adds one to the host's desired config version inside
// tx and returns the new version.
func bumpConfigVersion(ctx context.Context, tx *sqlx.Tx, hostID string) (int64, error) {
	var version int64
	err := tx.GetContext(ctx, &version, `UPDATE hosts SET config_version = config_version + 1
		WHERE id = ? AND revoked_at IS NULL RETURNING config_version`, hostID)
	if isNoRows(err) {
		return 0, notFoundf("There is no host with ID %q; it may have been revoked.", clipText(hostID))
	}
	if err != nil {
		return 0, fmt.Errorf("store: bump config version: %w", err)
	}
	return version, nil
}

// checkConfig builds the host's config as it stands inside tx and refuses
// it (an invalid-input error) when topics would: a limit crossed, a
// reference the config does not hold.
func (s *Service) checkConfig(ctx context.Context, tx *sqlx.Tx, hostID string) error {
	cfg, err := s.hostConfig(ctx, tx, hostID)
	if err != nil {
		return err
	}
	if cfg == nil {
		return nil
	}
	defer clearConfig(cfg)
	if err := cfg.Validate(); err != nil {
		return &Error{Code: CodeInvalid, Message: sentence(err.Error())}
	}
	if err := cfg.CheckSize(); err != nil {
		return &Error{Code: CodeInvalid, Message: sentence(err.Error())}
	}
	return nil
}

// changeConfig is step 1 above after the rows changed: bump, then check.
func (s *Service) changeConfig(ctx context.Context, tx *sqlx.Tx, hostID string) (int64, error) {
	version, err := bumpConfigVersion(ctx, tx, hostID)
	if err != nil {
		return 0, err
	}
	return version, s.checkConfig(ctx, tx, hostID)
}

// configChanged is step 2: send the config and tell the pages.
// It runs after the commit, so it must not depend on the caller's context:
// a browser that navigates away as the save lands cancels its request,
// and the host would otherwise wait for its next hello to get the change.
func (s *Service) configChanged(ctx context.Context, hostID string) {
	s.publishConfig(context.WithoutCancel(ctx), hostID)
	s.events.Publish(Event{Kind: EventConfigChanged, HostID: hostID})
}

// hostConfig is the host's desired config, or nil when it has none yet
// (version 0: nothing was ever configured).
func (s *Service) hostConfig(ctx context.Context, q sqlx.QueryerContext, hostID string) (*topics.Config, error) {
	var r struct {
		Version  int64  `db:"config_version"`
		Name     string `db:"name"`
		Sealed   []byte `db:"sealed"`
		UpKBps   int    `db:"bandwidth_up_kbps"`
		DownKBps int    `db:"bandwidth_down_kbps"`
		sealedHooks
	}
	err := sqlx.GetContext(ctx, q, &r, `SELECT h.config_version, h.name, COALESCE(r.sealed, `+dialectOf(q).emptyBlob()+`) AS sealed,
		h.bandwidth_up_kbps, h.bandwidth_down_kbps, h.pre_hook_sealed, h.post_hook_sealed, h.hook_timeout_seconds
		FROM hosts h LEFT JOIN repositories r ON r.host_id = h.id WHERE h.id = ? AND h.revoked_at IS NULL`, hostID)
	if isNoRows(err) || (err == nil && r.Version < 1) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: load config of %s: %w", hostID, err)
	}
	cfg := &topics.Config{Envelope: topics.NewEnvelope(topics.TypeConfig, hostID), Version: r.Version, HostName: r.Name}
	if cfg.Repository, err = s.openRepository(hostID, r.Sealed); err != nil {
		return nil, err
	}
	groups, err := loadGroupRows(ctx, q, hostID)
	if err != nil {
		return nil, err
	}
	for i := range groups {
		w, err := s.groupWire(&groups[i])
		if err != nil {
			return nil, err
		}
		cfg.SourceGroups = append(cfg.SourceGroups, w)
	}
	if hooks, err := s.openHooks(hookOwner{host: hostID}, r.sealedHooks); err != nil {
		return nil, err
	} else if !hooks.Empty() {
		cfg.HostHooks = &hooks
	}
	schedules, err := loadScheduleRows(ctx, q, `s.host_id = ?`, hostID)
	if err != nil {
		return nil, err
	}
	for i := range schedules {
		cfg.Schedules = append(cfg.Schedules, schedules[i].wire())
	}
	if r.UpKBps > 0 || r.DownKBps > 0 {
		cfg.Bandwidth = &topics.Bandwidth{UpKBps: r.UpKBps, DownKBps: r.DownKBps}
	}
	return cfg, nil
}

// clearConfig wipes the secrets of a config no longer needed.
func clearConfig(cfg *topics.Config) {
	if cfg.Repository != nil {
		cfg.Repository.Password = ""
		clear(cfg.Repository.Env)
	}
	for i := range cfg.SourceGroups {
		cfg.SourceGroups[i].Hooks = topics.Hooks{}
	}
	cfg.HostHooks = nil
}

// publishConfig sends the host's desired config on its down/config (QoS 1,
// not retained: it holds secrets, and a hello asks for it again anyway).
// Failures are logged only; the next hello with an older version retries.
func (s *Service) publishConfig(ctx context.Context, hostID string) {
	pub := s.publisher()
	if pub == nil {
		return
	}
	cfg, err := s.hostConfig(ctx, s.db, hostID)
	if err != nil || cfg == nil {
		if err != nil {
			s.log.Error("config: load", "host", hostID, "err", err)
		}
		return
	}
	b, err := topics.Encode(cfg)
	clearConfig(cfg)
	if err == nil {
		err = pub.Publish(topics.ConfigTopic(hostID), b, false, 1)
	}
	clear(b)
	if err != nil {
		s.log.Warn("config: publish", "host", hostID, "version", cfg.Version, "err", err)
	}
}
