package server

import (
	"context"
	"encoding/base64"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The host list at fleet scale (#15): keyset pages in (name, id) order
// with the filters a sysadmin needs at 10,000 hosts. A page costs an index
// range plus the per-host reads of that page only (tags, health, drills),
// whatever the fleet's size; the health filter reads the health word the
// evaluator keeps in the row (fleet_health_store.go, migration 0013), the
// state filter the presence flushed to the row (at most FlushEvery old).
// The hosts of a page carry their live presence and health, like GetHost.

// Page sizes of ListHostsPage.
const (
	DefaultHostPageSize = 50
	MaxHostPageSize     = 500
	// maxHostQueryLen bounds the search text.
	maxHostQueryLen = 100
)

// HostState filters hosts by presence.
type HostState string

// Host presence filters: connected now, or not.
const (
	HostOnline  HostState = "online"
	HostOffline HostState = "offline"
)

// HostFilter chooses hosts; the zero value chooses every active host.
// Check normalizes it and refuses what is malformed.
type HostFilter struct {
	// Query is a case-insensitive substring of the name, hostname, ID,
	// OS or CPU architecture.
	Query string `json:"q,omitempty"`
	// Tag keeps the hosts carrying it (folded by NormalizeHostTag).
	Tag    string      `json:"tag,omitempty"`
	State  HostState   `json:"state,omitempty"`
	Health HealthState `json:"health,omitempty"`
	// OS is the agent's GOOS (linux, windows, darwin, ...), exactly.
	OS string `json:"os,omitempty"`
}

var hostOSRE = regexp.MustCompile(`^[a-z0-9]{1,20}$`)

// Check trims and folds the filter's fields and refuses a malformed one
// with one sentence naming the parameter.
func (f *HostFilter) Check() error {
	f.Query = strings.TrimSpace(f.Query)
	if len(f.Query) > maxHostQueryLen {
		return invalidf("The search text (q) is at most %d characters.", maxHostQueryLen)
	}
	if f.Tag = strings.TrimSpace(f.Tag); f.Tag != "" {
		t, err := NormalizeHostTag(f.Tag)
		if err != nil {
			return err
		}
		f.Tag = t
	}
	if f.State != "" && f.State != HostOnline && f.State != HostOffline {
		return invalidf("The state filter is online or offline, not %q.", clipText(string(f.State)))
	}
	if f.Health != "" && !slices.Contains(HealthStates, f.Health) {
		return invalidf("The health filter is ok, overdue, failing, offline or pending, not %q.", clipText(string(f.Health)))
	}
	if f.OS = strings.ToLower(strings.TrimSpace(f.OS)); f.OS != "" && !hostOSRE.MatchString(f.OS) {
		return invalidf("The OS filter is an OS name such as linux, windows or darwin, not %q.", clipText(f.OS))
	}
	return nil
}

// IsZero reports whether the filter chooses every host.
func (f HostFilter) IsZero() bool { return f == HostFilter{} }

// where is the filter as SQL conditions on hosts h, with their arguments.
// Plain SQL that SQLite and PostgreSQL read alike: LOWER and LIKE with an
// explicit escape character, EXISTS for the tag.
func (f HostFilter) where() (string, []any) {
	conds := []string{"h.revoked_at IS NULL"}
	var args []any
	if f.Query != "" {
		like := "%" + likeEscaper.Replace(strings.ToLower(f.Query)) + "%"
		var ors []string
		for _, col := range []string{"h.name", "h.hostname", "h.id", "h.os", "h.arch"} {
			ors = append(ors, "LOWER("+col+`) LIKE ? ESCAPE '\'`)
			args = append(args, like)
		}
		conds = append(conds, "("+strings.Join(ors, " OR ")+")")
	}
	if f.Tag != "" {
		conds = append(conds, "EXISTS (SELECT 1 FROM host_tags t WHERE t.host_id = h.id AND t.tag = ?)")
		args = append(args, f.Tag)
	}
	switch f.State {
	case HostOnline:
		conds = append(conds, "h.online = 1")
	case HostOffline:
		conds = append(conds, "h.online = 0")
	}
	if f.Health != "" {
		conds = append(conds, "h.health = ?")
		args = append(args, string(f.Health))
	}
	if f.OS != "" {
		conds = append(conds, "h.os = ?")
		args = append(args, f.OS)
	}
	return strings.Join(conds, " AND "), args
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// HostPageRequest asks for one page: the filter, the page size (0: the
// default) and the cursor of the page before ("": the first page).
type HostPageRequest struct {
	HostFilter
	Limit  int
	Cursor string
}

// HostPage is one page of hosts in (name, id) order. NextCursor names the
// page after it; nil on the last page.
type HostPage struct {
	Hosts      []Host  `json:"hosts"`
	NextCursor *string `json:"next_cursor"`
}

// hostCursor is a position in (name, id) order: the last host of a page.
type hostCursor struct{ name, id string }

// encode makes the cursor opaque: it is a position, not a query language.
func (c hostCursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.name + "\x00" + c.id))
}

func decodeHostCursor(s string) (hostCursor, error) {
	refuse := invalidf("The cursor is not one this server gave; pass next_cursor from the previous page unchanged, or leave it out for the first page.")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 400 {
		return hostCursor{}, refuse
	}
	name, id, ok := strings.Cut(string(b), "\x00")
	if !ok || name == "" || id == "" {
		return hostCursor{}, refuse
	}
	return hostCursor{name, id}, nil
}

// checkHostPage validates a page request and returns its size and cursor.
func checkHostPage(req *HostPageRequest) (int, *hostCursor, error) {
	if err := req.HostFilter.Check(); err != nil {
		return 0, nil, err
	}
	limit := req.Limit
	switch {
	case limit == 0:
		limit = DefaultHostPageSize
	case limit < 0 || limit > MaxHostPageSize:
		return 0, nil, invalidf("The page size (limit) is 1 to %d hosts, not %d.", MaxHostPageSize, limit)
	}
	if req.Cursor == "" {
		return limit, nil, nil
	}
	c, err := decodeHostCursor(req.Cursor)
	if err != nil {
		return 0, nil, err
	}
	return limit, &c, nil
}

// ParseHostPageLimit reads a page size typed in a query string ("" is 0,
// the default) with the same sentence as ListHostsPage's refusal.
func ParseHostPageLimit(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, invalidf("The page size (limit) is 1 to %d hosts, not %q.", MaxHostPageSize, clipText(s))
	}
	return n, nil
}

// ListHostsPage returns one page of the active hosts that pass the
// filter, in (name, id) order, each with its live presence, tags, health
// and last drill. A host added or removed between two pages never makes
// another host appear twice or go missing: the next page starts after the
// last host of this one, whatever changed before it.
func (s *Service) ListHostsPage(ctx context.Context, req HostPageRequest) (*HostPage, error) {
	limit, cur, err := checkHostPage(&req)
	if err != nil {
		return nil, err
	}
	where, args := req.HostFilter.where()
	if cur != nil {
		where += " AND (h.name > ? OR (h.name = ? AND h.id > ?))"
		args = append(args, cur.name, cur.name, cur.id)
	}
	out := []Host{}
	// One more than the page: whether a next page exists, without a count.
	q := `SELECT ` + hostColumnsOf("h") + ` FROM hosts h WHERE ` + where + ` ORDER BY h.name, h.id LIMIT ?`
	if err := s.db.SelectContext(ctx, &out, q, append(args, limit+1)...); err != nil {
		return nil, internal("Could not list hosts", err)
	}
	page := &HostPage{Hosts: out}
	if len(out) > limit {
		page.Hosts = out[:limit]
		last := page.Hosts[limit-1]
		next := hostCursor{last.Name, last.ID}.encode()
		page.NextCursor = &next
	}
	if err := s.completeHosts(ctx, page.Hosts); err != nil {
		return nil, err
	}
	return page, nil
}

// ListHostsByID returns the active hosts among ids, in (name, id) order,
// complete like ListHostsPage's; unknown and revoked ids are left out.
// The event hub renders the rows of the hosts that changed with it.
func (s *Service) ListHostsByID(ctx context.Context, ids []string) ([]Host, error) {
	out := []Host{}
	if len(ids) == 0 {
		return out, nil
	}
	if len(ids) > MaxFleetHosts {
		return nil, invalidf("At most %d hosts at once.", MaxFleetHosts)
	}
	in, args := idList(ids)
	if err := s.db.SelectContext(ctx, &out, `SELECT `+hostColumnsOf("h")+` FROM hosts h
		WHERE h.revoked_at IS NULL AND h.id IN (`+in+`) ORDER BY h.name, h.id`, args...); err != nil {
		return nil, internal("Could not list hosts", err)
	}
	if err := s.completeHosts(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// HostIDsMatching returns the ids of every active host that passes the
// filter, in (name, id) order, at most MaxFleetHosts: fleet actions on
// "every host matching" act on the whole filtered set, not on a page.
func (s *Service) HostIDsMatching(ctx context.Context, f HostFilter) ([]string, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	where, args := f.where()
	ids := []string{}
	if err := s.db.SelectContext(ctx, &ids, `SELECT h.id FROM hosts h WHERE `+where+` ORDER BY h.name, h.id LIMIT ?`,
		append(args, MaxFleetHosts+1)...); err != nil {
		return nil, internal("Could not find the hosts matching the filter", err)
	}
	if len(ids) > MaxFleetHosts {
		return nil, invalidf("More than %d hosts match; narrow the filter.", MaxFleetHosts)
	}
	return ids, nil
}

// CountHosts counts the active hosts that pass the filter.
func (s *Service) CountHosts(ctx context.Context, f HostFilter) (int, error) {
	if err := f.Check(); err != nil {
		return 0, err
	}
	where, args := f.where()
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM hosts h WHERE `+where, args...); err != nil {
		return 0, internal("Could not count hosts", err)
	}
	return n, nil
}

// completeHosts overlays live presence and fills the tags, health and last
// drill of hosts (one page: each read is restricted to their ids).
func (s *Service) completeHosts(ctx context.Context, hosts []Host) error {
	if len(hosts) == 0 {
		return nil
	}
	ids := make([]string, len(hosts))
	for i := range hosts {
		ids[i] = hosts[i].ID
		s.presence.overlay(&hosts[i])
	}
	if err := s.fillTagsOf(ctx, hosts, ids); err != nil {
		return internal("Could not list the hosts' tags", err)
	}
	if err := s.fillHealth(ctx, hosts, ids); err != nil {
		return internal("Could not compute the hosts' health", err)
	}
	if err := s.fillDrills(ctx, hosts, ids); err != nil {
		return internal("Could not load the hosts' restore drills", err)
	}
	return nil
}

// idList is "?, ?, ?" for ids, with ids as arguments.
func idList(ids []string) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", "), args
}

// hostScope is the SQL condition on hosts h of a fill: every active host
// (ids nil) or the active hosts among ids.
func hostScope(ids []string) (string, []any) {
	if ids == nil {
		return "h.revoked_at IS NULL", nil
	}
	in, args := idList(ids)
	if in == "" {
		return "h.revoked_at IS NULL AND 1 = 0", nil
	}
	return "h.revoked_at IS NULL AND h.id IN (" + in + ")", args
}
