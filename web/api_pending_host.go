package web

import (
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// apiPendingHost is a machine waiting for approval in the JSON API, its own
// type so the API contract does not change when the domain's does.
type apiPendingHost struct {
	ID            int64     `json:"id"`
	ClientID      string    `json:"client_id"`
	Fingerprint   string    `json:"fingerprint"`
	Hostname      string    `json:"hostname"`
	OS            string    `json:"os"`
	Arch          string    `json:"arch"`
	AgentVersion  string    `json:"agent_version"`
	ResticVersion string    `json:"restic_version"`
	SourceAddr    string    `json:"source_addr"`
	FirstSeen     time.Time `json:"first_seen"`
	LastSeen      time.Time `json:"last_seen"`
	ExpiresAt     time.Time `json:"expires_at"`
	NameConflict  bool      `json:"name_conflict"`
}

func newAPIPendingHost(p server.PendingHost) apiPendingHost {
	return apiPendingHost{
		ID: p.ID, ClientID: p.ClientID, Fingerprint: p.Fingerprint, Hostname: p.Hostname, OS: p.OS, Arch: p.Arch,
		AgentVersion: p.AgentVersion, ResticVersion: p.ResticVersion, SourceAddr: p.SourceAddr,
		FirstSeen: p.FirstSeen.UTC(), LastSeen: p.LastSeen.UTC(), ExpiresAt: p.ExpiresAt.UTC(), NameConflict: p.NameConflict,
	}
}

// apiPendingQueue is the announce queue's state in the JSON API: whether it
// is full and how many waiting machines were dropped to make room since the
// server started.
type apiPendingQueue struct {
	Waiting    int    `json:"waiting"`
	Cap        int    `json:"cap"`
	PerAddress int    `json:"per_address"`
	Full       bool   `json:"full"`
	Evicted    uint64 `json:"evicted"`
	Replaced   uint64 `json:"replaced"`
}

func newAPIPendingQueue(q server.PendingQueue) apiPendingQueue {
	return apiPendingQueue{Waiting: len(q.Hosts), Cap: q.Cap, PerAddress: q.PerAddress, Full: q.Full(),
		Evicted: q.Evicted, Replaced: q.Replaced}
}
