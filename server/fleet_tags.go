package server

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
)

// Host tags (#12 point 5) are free labels such as "site:lyon" or "laptop".
// They select hosts for fleet actions (fleet_actions.go) and the dashboard's
// filter, and route notifications by host. They stay on the server: no
// agent ever sees one, so their rule lives here and not in topics.
//
// A tag is folded to lower case ("Site:Lyon" and "site:lyon" are one tag)
// and is 1-40 letters, digits, '.', '_', '-', ':', '/' or '=', starting
// with a letter or digit: plain enough for a URL query, a CLI argument and
// a notification route. A host has at most MaxHostTags.

// Bounds on host tags.
const (
	MaxTagLen   = 40
	MaxHostTags = 20
)

var hostTagRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._:/=-]{0,39}$`)

// NormalizeHostTag folds a tag to its stored form (trimmed, lower case) and
// checks it, with a sentence that says what a tag may be.
func NormalizeHostTag(tag string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(tag))
	if !hostTagRE.MatchString(t) {
		return "", invalidf("A tag is 1-%d letters, digits, '.', '_', '-', ':', '/' or '=', starting with a letter or digit (e.g. site:lyon); got %q.",
			MaxTagLen, clipText(tag))
	}
	return t, nil
}

// normalizeHostTags folds and checks a host's whole tag list: duplicates
// collapse, the result is sorted, and more than MaxHostTags is refused.
func normalizeHostTags(tags []string) ([]string, error) {
	out, err := foldHostTags(tags)
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxHostTags {
		return nil, invalidf("A host has at most %d tags; remove some first.", MaxHostTags)
	}
	return out, nil
}

// foldHostTags is NormalizeHostTag of each tag.
func foldHostTags(tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	for _, tag := range tags {
		t, err := NormalizeHostTag(tag)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// SetHostTags replaces a host's tags with tags (folded, sorted, without
// duplicates) and returns them. Tags are configuration: PermConfigure.
// Audited as host.tags with the tags before and after; setting the tags a
// host already has changes and audits nothing.
func (s *Service) SetHostTags(ctx context.Context, a Actor, hostID string, tags []string) ([]string, error) {
	if err := a.require(PermConfigure); err != nil {
		return nil, err
	}
	want, err := normalizeHostTags(tags)
	if err != nil {
		return nil, err
	}
	return s.changeHostTags(ctx, a, hostID, func([]string) ([]string, error) { return want, nil })
}

// EditHostTags adds and removes tags on a host in one step (the command
// line's "host tag add|remove"). Removing a tag the host does not have is
// not an error. PermConfigure; audited like SetHostTags.
func (s *Service) EditHostTags(ctx context.Context, a Actor, hostID string, add, remove []string) ([]string, error) {
	if err := a.require(PermConfigure); err != nil {
		return nil, err
	}
	plus, err := normalizeHostTags(add)
	if err != nil {
		return nil, err
	}
	minus, err := foldHostTags(remove)
	if err != nil {
		return nil, err
	}
	return s.changeHostTags(ctx, a, hostID, func(have []string) ([]string, error) {
		next := slices.DeleteFunc(append(slices.Clone(have), plus...), func(t string) bool { return slices.Contains(minus, t) })
		return normalizeHostTags(next)
	})
}

// changeHostTags reads the host's tags, lets next decide the new list and
// stores it, in one transaction.
func (s *Service) changeHostTags(ctx context.Context, a Actor, hostID string, next func(have []string) ([]string, error)) ([]string, error) {
	h, err := s.GetHost(ctx, hostID)
	if err != nil {
		return nil, err
	}
	var want []string
	changed := false
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		have, err := hostTags(ctx, tx, hostID)
		if err != nil {
			return err
		}
		if want, err = next(have); err != nil {
			return err
		}
		if slices.Equal(have, want) {
			return nil
		}
		changed = true
		if _, err := tx.ExecContext(ctx, `DELETE FROM host_tags WHERE host_id = ?`, hostID); err != nil {
			return err
		}
		for _, t := range want {
			if _, err := tx.ExecContext(ctx, `INSERT INTO host_tags (host_id, tag) VALUES (?, ?)`, hostID, t); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, a, "host.tags", h.Name, map[string]any{"host_id": hostID, "before": have, "after": want})
	})
	if err != nil {
		return nil, txError("Could not save the host's tags", err)
	}
	if changed {
		s.log.Info("host tags set", "host", hostID, "tags", want, "by", a.Name)
		s.events.Publish(Event{Kind: EventHostUpdated, HostID: hostID})
	}
	return want, nil
}

// HostTags returns a host's tags, sorted.
func (s *Service) HostTags(ctx context.Context, hostID string) ([]string, error) {
	tags, err := hostTags(ctx, s.db, hostID)
	if err != nil {
		return nil, internal("Could not load the host's tags", err)
	}
	return tags, nil
}

// HostIDsTagged returns the active hosts that carry tag, by name (fleet
// actions by tag, notification routes). A tag that breaks the rule is
// refused; a valid one no host has gives an empty list.
func (s *Service) HostIDsTagged(ctx context.Context, tag string) ([]string, error) {
	t, err := NormalizeHostTag(tag)
	if err != nil {
		return nil, err
	}
	ids := []string{}
	if err := s.db.SelectContext(ctx, &ids, `SELECT h.id FROM hosts h JOIN host_tags t ON t.host_id = h.id
		WHERE t.tag = ? AND h.revoked_at IS NULL ORDER BY h.name`, t); err != nil {
		return nil, internal("Could not find the hosts tagged "+t, err)
	}
	return ids, nil
}

// FleetTags returns every tag some active host carries, sorted: the
// dashboard's tag filter and "every host tagged" offer them.
func (s *Service) FleetTags(ctx context.Context) ([]string, error) {
	tags := []string{}
	if err := s.db.SelectContext(ctx, &tags, `SELECT DISTINCT t.tag FROM host_tags t
		JOIN hosts h ON h.id = t.host_id WHERE h.revoked_at IS NULL ORDER BY t.tag`); err != nil {
		return nil, internal("Could not list the fleet's tags", err)
	}
	return tags, nil
}

func hostTags(ctx context.Context, q sqlx.QueryerContext, hostID string) ([]string, error) {
	tags := []string{}
	err := sqlx.SelectContext(ctx, q, &tags, `SELECT tag FROM host_tags WHERE host_id = ? ORDER BY tag`, hostID)
	return tags, err
}

// fillTags sets the Tags of every host in hosts with one query.
func (s *Service) fillTags(ctx context.Context, hosts []Host) error {
	return s.fillTagsOf(ctx, hosts, nil)
}

// fillTagsOf is fillTags reading only the tags of ids (nil: every active host).
func (s *Service) fillTagsOf(ctx context.Context, hosts []Host, ids []string) error {
	var rows []struct {
		HostID string `db:"host_id"`
		Tag    string `db:"tag"`
	}
	scope, args := hostScope(ids)
	if err := s.db.SelectContext(ctx, &rows, `SELECT t.host_id, t.tag FROM host_tags t
		JOIN hosts h ON h.id = t.host_id WHERE `+scope+` ORDER BY t.host_id, t.tag`, args...); err != nil {
		return err
	}
	byHost := make(map[string][]string, len(hosts))
	for _, r := range rows {
		byHost[r.HostID] = append(byHost[r.HostID], r.Tag)
	}
	for i := range hosts {
		hosts[i].Tags = byHost[hosts[i].ID]
		if hosts[i].Tags == nil {
			hosts[i].Tags = []string{}
		}
	}
	return nil
}
