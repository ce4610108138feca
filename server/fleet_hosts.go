package server

import (
	"context"
	"regexp"
	"strings"
	"time"
)

// Host is an enrolled machine, and the JSON API's shape of one
// (docs/DECISIONS.md, "One shape per resource").
type Host struct {
	ID            string     `db:"id" json:"id"`
	Name          string     `db:"name" json:"name"`
	Hostname      string     `db:"hostname" json:"hostname"`
	OS            string     `db:"os" json:"os"`
	Arch          string     `db:"arch" json:"arch"`
	AgentVersion  string     `db:"agent_version" json:"agent_version"`
	ResticVersion string     `db:"restic_version" json:"restic_version"`
	BootID        string     `db:"boot_id" json:"-"`
	ConnGen       uint64     `db:"conn_gen" json:"-"`
	Online        bool       `db:"online" json:"online"`
	LastSeen      *time.Time `db:"last_seen" json:"last_seen"`
	ConnectedAt   *time.Time `db:"connected_at" json:"connected_at"`
	RemoteAddr    string     `db:"remote_addr" json:"remote_addr"`
	CreatedAt     time.Time  `db:"created_at" json:"created_at"`
	// Tags (#12.5, fleet_tags.go), sorted; filled by ListHosts and GetHost.
	Tags []string `db:"-" json:"tags"`
	// HostHealth (#13, fleet_health.go): last success, overdue, next run,
	// thresholds; filled by ListHosts and GetHost.
	HostHealth `db:"-"`
	// LastDrill (#14, fleet_drills.go): the newest finished restore
	// drill, nil before the first; filled by ListHosts and GetHost.
	LastDrill *HostDrill `db:"-" json:"last_drill"`
}

const hostColumns = `id, name, hostname, os, arch, agent_version, restic_version, boot_id, conn_gen,
	online, last_seen, connected_at, remote_addr, created_at`

// hostColumnsOf is hostColumns, each qualified with the table's alias.
func hostColumnsOf(alias string) string {
	cols := strings.Split(hostColumns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// hostNameRE: names show in the UI and in commands; keep them plain.
var hostNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ValidateHostName checks a host's display name.
func ValidateHostName(name string) error {
	if !hostNameRE.MatchString(name) {
		return invalidf("Host names are 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit (got %q).", clipText(name))
	}
	return nil
}

// ListHosts returns every active host by name, with live presence.
func (s *Service) ListHosts(ctx context.Context) ([]Host, error) {
	out := []Host{} // the API lists [] for none
	err := s.db.SelectContext(ctx, &out, `SELECT `+hostColumns+` FROM hosts WHERE revoked_at IS NULL ORDER BY name`)
	if err != nil {
		return nil, internal("Could not list hosts", err)
	}
	if err := s.fillTags(ctx, out); err != nil {
		return nil, internal("Could not list the hosts' tags", err)
	}
	for i := range out {
		s.presence.overlay(&out[i])
	}
	if err := s.fillHealth(ctx, out, nil); err != nil {
		return nil, internal("Could not compute the hosts' health", err)
	}
	if err := s.fillDrills(ctx, out, nil); err != nil {
		return nil, internal("Could not load the hosts' restore drills", err)
	}
	return out, nil
}

// GetHost returns one active host by ID, with live presence.
func (s *Service) GetHost(ctx context.Context, id string) (*Host, error) {
	var h Host
	err := s.db.GetContext(ctx, &h, `SELECT `+hostColumns+` FROM hosts WHERE id = ? AND revoked_at IS NULL`, id)
	if isNoRows(err) {
		return nil, notFoundf("There is no host with ID %q; it may have been revoked.", clipText(id))
	}
	if err != nil {
		return nil, internal("Could not load the host", err)
	}
	if h.Tags, err = hostTags(ctx, s.db, id); err != nil {
		return nil, internal("Could not load the host's tags", err)
	}
	s.presence.overlay(&h)
	one := []Host{h}
	if err := s.fillHealth(ctx, one, []string{id}); err != nil {
		return nil, internal("Could not compute the host's health", err)
	}
	if err := s.fillDrills(ctx, one, []string{id}); err != nil {
		return nil, internal("Could not load the host's restore drills", err)
	}
	return &one[0], nil
}

// hostNameTaken reports whether an active host already uses name.
func (s *Service) hostNameTaken(ctx context.Context, name string) (bool, error) {
	var n int
	err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM hosts WHERE name = ?`, name)
	return n > 0, err
}

// clipText shortens untrusted text before it goes into a message.
func clipText(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
