package server

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Disconnecter ends a client's MQTT session at once; the broker implements
// it. Revocation uses it so that a revoked host is cut off now, not at its
// next reconnect.
type Disconnecter interface {
	Disconnect(clientID string)
}

// SetDisconnecter connects revocation to the broker.
func (s *Service) SetDisconnecter(d Disconnecter) {
	s.pubMu.Lock()
	s.disconnecter = d
	s.pubMu.Unlock()
}

// RevokeHost cuts a host off for good: its MQTT secret stops working, its
// live session is closed, it leaves the host list, and its retained monitor
// state is cleared. confirmName must repeat the host's name (the dashboard's
// danger zone asks for it typed out). The row stays, marked revoked, for the
// audit trail; the name becomes free for a new enrollment.
func (s *Service) RevokeHost(ctx context.Context, a Actor, id, confirmName string) error {
	if err := a.require(PermConfigure); err != nil {
		return err
	}
	h, err := s.GetHost(ctx, id)
	if err != nil {
		return err
	}
	if confirmName != h.Name {
		return invalidf("Type the host's name, %s, exactly to confirm the revocation.", h.Name)
	}
	now := s.now()
	// The name is freed by renaming the revoked row: names are UNIQUE, and a
	// replacement machine usually gets the old name.
	tomb := h.Name + "~revoked-" + now.Format("20060102T150405")
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE hosts SET revoked_at = ?, online = 0, name = ? WHERE id = ? AND revoked_at IS NULL`, now, tomb, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFoundf("Host %s was already revoked.", h.Name)
		}
		return s.audit(ctx, tx, a, "host.revoke", h.Name, map[string]any{"host_id": id})
	})
	if err != nil {
		if ErrorCodeOf(err) == CodeInternal {
			return internal("Could not revoke the host", err)
		}
		return err
	}
	s.creds.forget(id) // before Disconnect: a CONNECT after it finds the secret revoked
	s.presence.forget(id)
	s.pubMu.Lock()
	d, pub := s.disconnecter, s.pub
	s.pubMu.Unlock()
	if d != nil {
		d.Disconnect(id)
	}
	if pub != nil { // an empty retained message removes the retained state
		_ = pub.Publish(topics.MonitorHostTopic(id), nil, true, 1)
		s.revokeHAConfigs(pub, id)
	}
	s.log.Info("host revoked", "host", id, "name", h.Name, "by", a.Name)
	s.events.Publish(Event{Kind: EventHostRemoved, HostID: id})
	return nil
}
