package server

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// publishMonitor publishes the retained rm/v1/monitor/hosts/{h} state and a
// host.online / host.offline event for MQTT monitoring tools.
func (p *Presence) publishMonitor(ctx context.Context, pub Publisher, id string, online bool) {
	p.monitorMu.Lock()
	defer p.monitorMu.Unlock()
	h, err := p.s.GetHost(ctx, id)
	if err != nil {
		p.s.log.Warn("monitor: load host", "host", id, "err", err)
		return
	}
	state := p.s.monitorState(ctx, h, online, nil)
	p.s.publishMonitorState(pub, state)
	evt := &topics.MonitorEvent{Envelope: topics.NewEnvelope(topics.TypeMonitorEvt, id), Event: "host." + state.Status, Name: h.Name}
	if b, err := topics.Encode(evt); err == nil {
		_ = pub.Publish(topics.MonitorEventsTopic(), b, false, 0)
	}
}

// Start prepares presence for a fresh server process: no host is connected
// yet, so every host is stored offline, and (the broker keeps no retained
// messages across restarts) the retained monitor state of every host is to
// be published again. Call it after the broker is listening and
// SetPublisher. The republish is Run's (runRepublisher): Start returns
// once the hosts are offline, so the web serves from the first second
// instead of after the whole fleet's states (23-28 s at 5,000 hosts).
func (p *Presence) Start(ctx context.Context) error {
	if _, err := p.s.db.ExecContext(ctx, `UPDATE hosts SET online = 0 WHERE online = 1`); err != nil {
		return internal("Could not reset host presence", err)
	}
	select {
	case p.republishNow <- struct{}{}:
	default: // one is asked for already
	}
	return nil
}

// runRepublisher republishes the monitor states when Start asks and every
// RepublishEvery, on its own goroutine: a fleet's states take long enough
// to delay presence flushes.
func (p *Presence) runRepublisher(ctx context.Context) {
	t := time.NewTicker(p.opts.RepublishEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.republishNow:
		case <-t.C:
		}
		if err := p.republish(ctx); err != nil && ctx.Err() == nil {
			p.s.log.Error("monitor: republish", "err", err)
		}
	}
}

// republish publishes the retained monitor state of every host. Besides
// start-up it runs every RepublishEvery: the broker expires retained
// messages after its session expiry, and a host that stays online for
// longer would otherwise vanish from monitoring tools.
func (p *Presence) republish(ctx context.Context) error {
	p.mu.Lock()
	pub := p.pub
	p.mu.Unlock()
	if pub == nil {
		return nil
	}
	hosts, err := p.s.ListHosts(ctx)
	if err != nil {
		return err
	}
	plans, err := p.s.FleetPlans(ctx)
	if err != nil {
		p.s.log.Warn("monitor: last backups", "err", err) // publish without them
		plans = map[string]HostPlan{}
	}
	for i := range hosts {
		h := &hosts[i]
		last := plans[h.ID].LastBackup
		// Online as it is now, not when the list was read, and not
		// between a flush's read of a change and its publish: the list
		// is seconds old by the end of a large fleet.
		p.monitorMu.Lock()
		p.s.publishMonitorState(pub, p.s.monitorState(ctx, h, p.isOnline(h.ID), &last))
		p.monitorMu.Unlock()
	}
	p.s.syncHAConfigs(ctx, "") // Home Assistant's configs expire too (fleet_ha.go)
	return nil
}

// monitorState is a host's retained monitor state: online or offline and
// its newest backup. last, when not nil, is that backup already read (nil
// inside: none); otherwise it is read here with one indexed query.
func (s *Service) monitorState(ctx context.Context, h *Host, online bool, last **JobBrief) *topics.MonitorHostState {
	state := &topics.MonitorHostState{Envelope: topics.NewEnvelope(topics.TypeMonitorHost, h.ID), Name: h.Name,
		Online: online, LastSeen: h.LastSeen, Status: topics.StateOffline}
	if online {
		state.Status = topics.StateOnline
	}
	var b *JobBrief
	if last != nil {
		b = *last
	} else {
		b = s.lastBackup(ctx, h.ID)
	}
	if b != nil {
		at := b.At
		state.LastBackup, state.LastBackupStatus, state.LastBackupJob = &at, string(b.Status), b.ID
	}
	s.fillMonitorHealth(ctx, h, state)
	return state
}

// lastBackup is the host's newest backup job (nil: none, or unreadable).
func (s *Service) lastBackup(ctx context.Context, hostID string) *JobBrief {
	var row struct {
		ID         int64      `db:"id"`
		Status     string     `db:"status"`
		CreatedAt  time.Time  `db:"created_at"`
		FinishedAt *time.Time `db:"finished_at"`
	}
	err := s.db.GetContext(ctx, &row, `SELECT id, status, created_at, finished_at FROM jobs
		WHERE host_id = ? AND kind = 'backup' ORDER BY id DESC LIMIT 1`, hostID)
	if err != nil {
		if !errors.Is(err, sql.ErrNoRows) {
			s.log.Warn("monitor: last backup", "host", hostID, "err", err)
		}
		return nil
	}
	at := row.CreatedAt
	if row.FinishedAt != nil {
		at = *row.FinishedAt
	}
	return &JobBrief{ID: row.ID, Status: topics.JobState(row.Status), At: at}
}

// publishMonitorState publishes a host's retained monitor state.
func (s *Service) publishMonitorState(pub Publisher, state *topics.MonitorHostState) {
	b, err := topics.Encode(state)
	if err != nil {
		s.log.Error("monitor: encode host state", "host", state.Host, "err", err)
		return
	}
	if err := pub.Publish(topics.MonitorHostTopic(state.Host), b, true, 1); err != nil {
		s.log.Warn("monitor: publish host state", "host", state.Host, "err", err)
	}
}
