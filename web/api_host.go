package web

import (
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// apiHost is a host in the JSON API. It is its own type so that the API
// contract (DESIGN §6) does not change when the domain's Host does.
type apiHost struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	Online        bool       `json:"online"`
	LastSeen      *time.Time `json:"last_seen"`
	ConnectedAt   *time.Time `json:"connected_at"`
	Hostname      string     `json:"hostname"`
	OS            string     `json:"os"`
	Arch          string     `json:"arch"`
	AgentVersion  string     `json:"agent_version"`
	ResticVersion string     `json:"restic_version"`
	RemoteAddr    string     `json:"remote_addr"`
	CreatedAt     time.Time  `json:"created_at"`
	// Tags (#12.5) are the host's labels, sorted ([] when none).
	Tags []string `json:"tags"`
	// Config (GET /api/v1/hosts/{id} only): desired and applied config
	// version and the bandwidth caps.
	Config *apiConfigStatus `json:"config,omitempty"`
}

func newAPIHost(h server.Host) apiHost {
	return apiHost{
		ID: h.ID, Name: h.Name, Online: h.Online, LastSeen: utcPtr(h.LastSeen), ConnectedAt: utcPtr(h.ConnectedAt),
		Hostname: h.Hostname, OS: h.OS, Arch: h.Arch, AgentVersion: h.AgentVersion, ResticVersion: h.ResticVersion,
		RemoteAddr: h.RemoteAddr, CreatedAt: h.CreatedAt.UTC(), Tags: h.Tags,
	}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
