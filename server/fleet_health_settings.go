package server

import (
	"context"
	"strconv"

	"github.com/jmoiron/sqlx"
)

// The thresholds of host health (#13): global ones in the settings table
// (admins), a host's own in its row (PermConfigure, like its other
// settings). Both are audited.

// AlertingSettings is the global thresholds, and what GET and PUT
// /api/v1/settings/alerting answer and take.
type AlertingSettings struct {
	// OverdueAfterSeconds applies to a host without an unpaused backup
	// schedule (one with schedules gets their interval plus a grace).
	OverdueAfterSeconds int64 `json:"overdue_after_seconds"`
	// OfflineAlertAfterSeconds is how long a host may be offline before it
	// counts as offline in its health.
	OfflineAlertAfterSeconds int64 `json:"offline_alert_after_seconds"`
}

// The defaults: a daily backup plus two hours, and a day offline.
const (
	DefaultOverdueAfterSeconds      = 26 * 3600
	DefaultOfflineAlertAfterSeconds = 24 * 3600
	// MinAlertSeconds and MaxAlertSeconds bound every threshold: five
	// minutes to a year (365 days).
	MinAlertSeconds = 5 * 60
	MaxAlertSeconds = 365 * 24 * 3600
)

const (
	overdueAfterKey = "alerting.overdue_after_seconds"
	offlineAfterKey = "alerting.offline_alert_after_seconds"
)

// AlertingSettings returns the global thresholds (the defaults where none
// was set).
func (s *Service) AlertingSettings(ctx context.Context) (AlertingSettings, error) {
	g, err := s.alertingSettings(ctx)
	if err != nil {
		return g, internal("Could not read the alerting settings", err)
	}
	return g, nil
}

func (s *Service) alertingSettings(ctx context.Context) (AlertingSettings, error) {
	g := AlertingSettings{OverdueAfterSeconds: DefaultOverdueAfterSeconds, OfflineAlertAfterSeconds: DefaultOfflineAlertAfterSeconds}
	for key, dst := range map[string]*int64{overdueAfterKey: &g.OverdueAfterSeconds, offlineAfterKey: &g.OfflineAlertAfterSeconds} {
		v, ok, err := s.getSetting(ctx, key)
		if err != nil {
			return g, err
		}
		if n, perr := strconv.ParseInt(string(v), 10, 64); ok && perr == nil && n > 0 {
			*dst = n
		}
	}
	return g, nil
}

// SetAlertingSettings changes the global thresholds. Admins only; audited.
// Hosts' health follows at once (pages re-read it on their next change,
// the evaluator publishes transitions on its next round).
func (s *Service) SetAlertingSettings(ctx context.Context, a Actor, g AlertingSettings) (AlertingSettings, error) {
	if err := a.require(PermAdmin); err != nil {
		return g, err
	}
	if err := checkAlertSeconds("The overdue threshold", g.OverdueAfterSeconds); err != nil {
		return g, err
	}
	if err := checkAlertSeconds("The offline alert threshold", g.OfflineAlertAfterSeconds); err != nil {
		return g, err
	}
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := writeSetting(ctx, tx, overdueAfterKey, []byte(strconv.FormatInt(g.OverdueAfterSeconds, 10)), false); err != nil {
			return err
		}
		if err := writeSetting(ctx, tx, offlineAfterKey, []byte(strconv.FormatInt(g.OfflineAlertAfterSeconds, 10)), false); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "settings.alerting", "fleet", map[string]any{
			"overdue_after_seconds": g.OverdueAfterSeconds, "offline_alert_after_seconds": g.OfflineAlertAfterSeconds})
	})
	if err != nil {
		return g, txError("Could not save the alerting settings", err)
	}
	s.log.Info("alerting settings set", "overdue_after_seconds", g.OverdueAfterSeconds,
		"offline_alert_after_seconds", g.OfflineAlertAfterSeconds, "by", a.Name)
	s.hostsUpdated(ctx) // every host's health may have changed
	return g, nil
}

// SetHostAlerting sets a host's own thresholds (nil: the default).
// PermConfigure; audited. It returns the host with its new health.
func (s *Service) SetHostAlerting(ctx context.Context, a Actor, hostID string, in HostAlerting) (*Host, error) {
	if err := a.require(PermConfigure); err != nil {
		return nil, err
	}
	if in.OverdueAfterSeconds != nil {
		if err := checkAlertSeconds("The overdue threshold", *in.OverdueAfterSeconds); err != nil {
			return nil, err
		}
	}
	if in.OfflineAlertAfterSeconds != nil {
		if err := checkAlertSeconds("The offline alert threshold", *in.OfflineAlertAfterSeconds); err != nil {
			return nil, err
		}
	}
	h, err := s.GetHost(ctx, hostID)
	if err != nil {
		return nil, err
	}
	if eqInt64(h.Alerting.OverdueAfterSeconds, in.OverdueAfterSeconds) &&
		eqInt64(h.Alerting.OfflineAlertAfterSeconds, in.OfflineAlertAfterSeconds) {
		return h, nil // unchanged: nothing written, nothing audited
	}
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE hosts SET overdue_after_seconds = ?, offline_alert_after_seconds = ? WHERE id = ?`,
			in.OverdueAfterSeconds, in.OfflineAlertAfterSeconds, hostID); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "host.alerting", h.Name, map[string]any{"host_id": hostID,
			"overdue_after_seconds": in.OverdueAfterSeconds, "offline_alert_after_seconds": in.OfflineAlertAfterSeconds})
	})
	if err != nil {
		return nil, txError("Could not save the host's alerting thresholds", err)
	}
	s.log.Info("host alerting set", "host", hostID, "by", a.Name)
	s.events.Publish(Event{Kind: EventHostUpdated, HostID: hostID})
	return s.GetHost(ctx, hostID)
}

func checkAlertSeconds(what string, n int64) error {
	if n < MinAlertSeconds || n > MaxAlertSeconds {
		return invalidf("%s is between %d seconds (5 minutes) and %d seconds (365 days); got %d.", what, MinAlertSeconds, MaxAlertSeconds, n)
	}
	return nil
}

func eqInt64(a, b *int64) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// hostsUpdated tells the pages that every host changed (their rows
// re-read their health).
func (s *Service) hostsUpdated(ctx context.Context) {
	var ids []string
	if err := s.db.SelectContext(ctx, &ids, `SELECT id FROM hosts WHERE revoked_at IS NULL`); err != nil {
		s.log.Warn("alerting: list hosts", "err", err)
		return
	}
	for _, id := range ids {
		s.events.Publish(Event{Kind: EventHostUpdated, HostID: id})
	}
}
