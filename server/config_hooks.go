package server

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Pre/post backup hooks (#10): shell script text on a source group and as
// host defaults, sealed at rest (config_hooks_store.go), sent to the agent in the
// versioned config, which runs them around backups. Only admins
// (PermConfigure) set or read the bodies — they run as root on the host;
// everyone else sees whether a hook is set. A change is audited (in the
// group save's own row, "hooks"; host.hooks_updated for the defaults)
// with which hook changed and the SHA-256 of its new body, never the body.

// HookInput is what an admin sets: a nil body keeps the stored one, ""
// clears it; a nil timeout keeps the stored one, 0 is the default (600 s).
type HookInput struct {
	PreHook        *string
	PostHook       *string
	TimeoutSeconds *int
}

// HookStatus is what anyone who may see a group or host learns about its
// hooks.
type HookStatus struct {
	HasPreHook     bool `json:"has_pre_hook"`
	HasPostHook    bool `json:"has_post_hook"`
	TimeoutSeconds int  `json:"hook_timeout_seconds"`
}

// HookSet is a group's or host's hooks as a reader may see them: the
// bodies are set only for admins ("" when there is none).
type HookSet struct {
	PreHook  *string `json:"pre_hook,omitempty"`
	PostHook *string `json:"post_hook,omitempty"`
	HookStatus
}

// Wire is in as topics checks it: an absent body as none.
func (in HookInput) Wire() topics.Hooks {
	h := topics.Hooks{}
	if in.PreHook != nil {
		h.PreHook = *in.PreHook
	}
	if in.PostHook != nil {
		h.PostHook = *in.PostHook
	}
	if in.TimeoutSeconds != nil {
		h.TimeoutSeconds = *in.TimeoutSeconds
	}
	return h
}

// check validates in with topics' rules, in one sentence that never quotes
// a body.
func (in HookInput) check() error {
	if err := in.Wire().Validate(); err != nil {
		return &Error{Code: CodeInvalid, Message: sentence(err.Error())}
	}
	return nil
}

// GetHostHooks returns the host's default hooks as a sees them (bodies for
// admins only).
func (s *Service) GetHostHooks(ctx context.Context, a Actor, hostID string) (*HookSet, error) {
	if err := a.require(PermRead); err != nil {
		return nil, err
	}
	h, err := s.loadHostHooks(ctx, s.db, hostID)
	if err != nil {
		return nil, err
	}
	return s.hookSet(a, hookOwner{host: hostID}, h)
}

// SetHostHooks changes the host's default hooks (admin only): sealed,
// config version bumped and the config checked in one transaction, audited
// as host.hooks_updated without the bodies; then the config is sent. A
// request that changes nothing changes and audits nothing.
func (s *Service) SetHostHooks(ctx context.Context, a Actor, hostID string, in HookInput) (*HookSet, error) {
	if err := a.require(PermConfigure); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	host, err := s.GetHost(ctx, hostID)
	if err != nil {
		return nil, err
	}
	o := hookOwner{host: hostID}
	changed := false
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := s.loadHostHooks(ctx, tx, hostID)
		if err != nil {
			return err
		}
		next, changes, timeoutChanged, err := s.applyHooks(o, cur, in)
		if err != nil || (len(changes) == 0 && !timeoutChanged) {
			return err
		}
		changed = true
		if _, err := tx.ExecContext(ctx, `UPDATE hosts SET pre_hook_sealed = ?, post_hook_sealed = ?, hook_timeout_seconds = ?
			WHERE id = ?`, next.Pre, next.Post, next.Timeout, hostID); err != nil {
			return err
		}
		version, err := s.changeConfig(ctx, tx, hostID)
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "host.hooks_updated", host.Name, map[string]any{"host_id": hostID,
			"changed": changes, "hook_timeout_seconds": next.Timeout, "config_version": version})
	})
	if err != nil {
		return nil, txError("Could not save the host's hooks", err)
	}
	if changed {
		s.log.Info("host hooks saved", "host", hostID, "by", a.Name)
		s.configChanged(ctx, hostID)
	}
	return s.GetHostHooks(ctx, a, hostID)
}

// SourceGroupHooks returns a group's own hooks as a sees them (bodies for
// admins only).
func (s *Service) SourceGroupHooks(ctx context.Context, a Actor, hostID, ref string) (*HookSet, error) {
	if err := a.require(PermRead); err != nil {
		return nil, err
	}
	r, err := s.loadGroup(ctx, hostID, ref)
	if err != nil {
		return nil, err
	}
	return s.hookSet(a, hookOwner{group: r.ID}, r.hooks())
}

// loadHostHooks reads the host's hook columns.
func (s *Service) loadHostHooks(ctx context.Context, q sqlx.QueryerContext, hostID string) (sealedHooks, error) {
	var h sealedHooks
	err := sqlx.GetContext(ctx, q, &h, `SELECT pre_hook_sealed, post_hook_sealed, hook_timeout_seconds FROM hosts
		WHERE id = ? AND revoked_at IS NULL`, hostID)
	if isNoRows(err) {
		return h, notFoundf("There is no host with ID %q; it may have been revoked.", clipText(hostID))
	}
	if err != nil {
		return h, internal("Could not load the host's hooks", err)
	}
	return h, nil
}

// saveGroupHooks applies in to group id's hooks inside tx and returns
// what changed for the save's audit row (nil when nothing did): which
// hook, with the SHA-256 of its new body or "cleared", and the timeout.
func (s *Service) saveGroupHooks(ctx context.Context, tx *sqlx.Tx, id int64, in HookInput) (map[string]any, error) {
	var cur sealedHooks
	if err := tx.GetContext(ctx, &cur, `SELECT pre_hook_sealed, post_hook_sealed, hook_timeout_seconds FROM source_groups
		WHERE id = ?`, id); err != nil {
		return nil, err
	}
	next, changes, timeoutChanged, err := s.applyHooks(hookOwner{group: id}, cur, in)
	if err != nil || (len(changes) == 0 && !timeoutChanged) {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE source_groups SET pre_hook_sealed = ?, post_hook_sealed = ?, hook_timeout_seconds = ?
		WHERE id = ?`, next.Pre, next.Post, next.Timeout, id); err != nil {
		return nil, err
	}
	return map[string]any{"changed": changes, "hook_timeout_seconds": next.Timeout}, nil
}
