package server

import (
	"context"
	"reflect"
	"time"

	"github.com/jmoiron/sqlx"
)

// Source groups (#4): what a host backs up, by name. A change bumps the
// host's config version and sends the config (config_build.go); the group's
// snapshots in the repository are never touched by a change or a delete.

// ListSourceGroups returns the host's groups by name, each with its backup
// schedules and its newest backup job.
func (s *Service) ListSourceGroups(ctx context.Context, hostID string) ([]SourceGroup, error) {
	if _, err := s.GetHost(ctx, hostID); err != nil {
		return nil, err
	}
	rows, err := loadGroupRows(ctx, s.db, hostID)
	if err != nil {
		return nil, internal("Could not load the source groups", err)
	}
	out := make([]SourceGroup, len(rows))
	for i := range rows {
		out[i] = rows[i].group()
	}
	if err := s.fillGroups(ctx, hostID, out); err != nil {
		return nil, err
	}
	return out, nil
}

// GetSourceGroup returns one group by key (sg_12), number or name.
func (s *Service) GetSourceGroup(ctx context.Context, hostID, ref string) (*SourceGroup, error) {
	r, err := s.loadGroup(ctx, hostID, ref)
	if err != nil {
		return nil, err
	}
	g := []SourceGroup{r.group()}
	if err := s.fillGroups(ctx, hostID, g); err != nil {
		return nil, err
	}
	return &g[0], nil
}

// loadGroup reads one of the host's groups by reference (findGroup), or
// says that the host or the group does not exist.
func (s *Service) loadGroup(ctx context.Context, hostID, ref string) (*groupRow, error) {
	if _, err := s.GetHost(ctx, hostID); err != nil {
		return nil, err
	}
	r, err := findGroup(ctx, s.db, hostID, ref)
	if err != nil {
		return nil, internal("Could not load the source group", err)
	}
	if r == nil {
		return nil, noGroup(CodeNotFound, ref)
	}
	return r, nil
}

// fillGroups adds each group's backup schedules and last backup (two
// queries for all of them).
func (s *Service) fillGroups(ctx context.Context, hostID string, groups []SourceGroup) error {
	scheds, err := s.loadSchedules(ctx, hostID)
	if err != nil {
		return err
	}
	last, err := lastJobs[int64](ctx, s.db, `SELECT g.id AS key, j.id, j.status, j.finished_at, j.created_at
		FROM source_groups g JOIN jobs j ON j.id = (SELECT MAX(id) FROM jobs WHERE source_group_id = g.id)
		WHERE g.host_id = ?`, hostID)
	if err != nil {
		return internal("Could not load the source groups' last backups", err)
	}
	for i := range groups {
		g := &groups[i]
		for _, sc := range scheds {
			if sc.SourceGroupID == g.ID {
				g.Schedules = append(g.Schedules, sc)
			}
		}
		g.LastBackup = last[g.ID]
	}
	return nil
}

// CreateSourceGroup validates and stores a group (nothing stored when the
// input is bad or the name is taken on the host, ignoring case), bumps the
// config version and sends the config. Needs PermConfigure; audited.
func (s *Service) CreateSourceGroup(ctx context.Context, a Actor, hostID string, in SourceGroupInput) (*SourceGroup, error) {
	return s.SaveSourceGroup(ctx, a, hostID, "", SourceGroupSave{SourceGroupInput: in})
}

// UpdateSourceGroup replaces a group's settings (its key, schedules and
// jobs stay). Needs PermConfigure; audited.
func (s *Service) UpdateSourceGroup(ctx context.Context, a Actor, hostID, ref string, in SourceGroupInput) (*SourceGroup, error) {
	if ref == "" {
		return nil, noGroup(CodeNotFound, ref)
	}
	return s.SaveSourceGroup(ctx, a, hostID, ref, SourceGroupSave{SourceGroupInput: in})
}

// SaveSourceGroup creates (ref "") or updates the group ref and, when
// in.Schedules is not nil, its backup schedules, in one transaction: the
// config version is bumped once and one audit row (source_group.create or
// source_group.update) says what changed — the settings, the hooks (by
// hash), the schedules created, updated and deleted. A refusal anywhere,
// also in the schedules, stores nothing; a save that changes nothing is
// neither stored, sent nor audited. Needs PermConfigure.
func (s *Service) SaveSourceGroup(ctx context.Context, a Actor, hostID, ref string, in SourceGroupSave) (*SourceGroup, error) {
	if err := a.require(PermConfigure); err != nil {
		return nil, err
	}
	group, err := in.SourceGroupInput.normalize()
	if err != nil {
		return nil, err
	}
	scheds, err := normalizeGroupSchedules(in.Schedules)
	if err != nil {
		return nil, err
	}
	h, err := s.GetHost(ctx, hostID)
	if err != nil {
		return nil, err
	}
	var id int64
	changed := false
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		action := "source_group.create"
		details := map[string]any{"host_id": hostID}
		var stored *groupRow
		if ref != "" {
			action = "source_group.update"
			var err error
			if stored, err = findGroup(ctx, tx, hostID, ref); err != nil {
				return err
			}
			if stored == nil {
				return noGroup(CodeNotFound, ref)
			}
			id = stored.ID
		}
		var taken int
		if err := tx.GetContext(ctx, &taken, `SELECT COUNT(*) FROM source_groups WHERE host_id = ? AND `+dialectOf(tx).nocaseEq(`name`)+`
			AND id != ?`, hostID, group.Name, id); err != nil {
			return err
		}
		if taken > 0 {
			return invalidf("This host already has a source group named %s; pick another name.", group.Name)
		}
		if stored == nil || !sameGroup(stored.input(), group) {
			if err := storeGroup(ctx, tx, hostID, &id, group, s.now()); err != nil {
				return err
			}
			details["settings"] = group
		}
		hooks, err := s.saveGroupHooks(ctx, tx, id, group.Hooks)
		if err != nil {
			return err
		}
		if hooks != nil {
			details["hooks"] = hooks
		}
		if scheds != nil {
			sc, err := s.saveGroupSchedules(ctx, tx, hostID, id, scheds)
			if err != nil {
				return err
			}
			if sc != nil {
				details["schedules"] = sc
			}
		}
		if len(details) == 1 {
			return nil // nothing changed
		}
		changed = true
		version, err := s.changeConfig(ctx, tx, hostID)
		if err != nil {
			return err
		}
		details["source_group"], details["config_version"] = groupKey(id), version
		return s.audit(ctx, tx, a, action, h.Name, details)
	})
	if err != nil {
		return nil, txError("Could not save the source group", err)
	}
	if changed {
		s.log.Info("source group saved", "host", hostID, "group", groupKey(id), "name", group.Name, "by", a.Name)
		s.configChanged(ctx, hostID)
	}
	return s.GetSourceGroup(ctx, hostID, groupKey(id))
}

// sameGroup reports whether storing in would change nothing in the
// stored settings cur (both normalized; hooks are compared on their own).
func sameGroup(cur, in SourceGroupInput) bool {
	cur.Hooks, in.Hooks = HookInput{}, HookInput{}
	return reflect.DeepEqual(cur, in)
}

// storeGroup inserts the group (*id 0; *id becomes its number) or updates it.
func storeGroup(ctx context.Context, tx *sqlx.Tx, hostID string, id *int64, in SourceGroupInput, now time.Time) error {
	var retention *string
	if in.Retention != nil {
		b, err := jsonString(in.Retention)
		if err != nil {
			return err
		}
		retention = &b
	}
	args := []any{in.Name, encodeList(in.Paths), encodeList(in.Excludes), encodeList(in.ExcludeFiles), in.ExcludeCaches,
		in.OneFileSystem, encodeList(in.Tags), retention, in.ForgetAfterBackup, now}
	if *id != 0 {
		_, err := tx.ExecContext(ctx, `UPDATE source_groups SET name = ?, paths = ?, excludes = ?, exclude_files = ?,
			exclude_caches = ?, one_file_system = ?, tags = ?, retention = ?, forget_after_backup = ?, updated_at = ?
			WHERE id = ?`, append(args, *id)...)
		return err
	}
	return tx.GetContext(ctx, id, `INSERT INTO source_groups (name, paths, excludes, exclude_files, exclude_caches,
		one_file_system, tags, retention, forget_after_backup, updated_at, host_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, append(args, hostID, now)...)
}

// DeleteSourceGroup removes the group and its schedules; its snapshots stay
// in the repository and its jobs stay (without the group). Needs
// PermConfigure; audited.
func (s *Service) DeleteSourceGroup(ctx context.Context, a Actor, hostID, ref string) error {
	if err := a.require(PermConfigure); err != nil {
		return err
	}
	h, err := s.GetHost(ctx, hostID)
	if err != nil {
		return err
	}
	var r *groupRow
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if r, err = findGroup(ctx, tx, hostID, ref); err != nil {
			return err
		}
		if r == nil {
			return noGroup(CodeNotFound, ref)
		}
		var schedules int
		if err := tx.GetContext(ctx, &schedules, `SELECT COUNT(*) FROM schedules WHERE source_group_id = ?`, r.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM source_groups WHERE id = ?`, r.ID); err != nil {
			return err
		}
		version, err := s.changeConfig(ctx, tx, hostID)
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "source_group.delete", h.Name, map[string]any{"host_id": hostID,
			"source_group": groupKey(r.ID), "name": r.Name, "schedules_deleted": schedules, "config_version": version})
	})
	if err != nil {
		return txError("Could not delete the source group", err)
	}
	s.log.Info("source group deleted", "host", hostID, "group", groupKey(r.ID), "name", r.Name, "by", a.Name)
	s.configChanged(ctx, hostID)
	return nil
}
