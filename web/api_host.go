package web

import (
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// The JSON API answers with server.Host as it is; GET /api/v1/hosts/{id}
// adds the host's config status (docs/DECISIONS.md, "One shape per
// resource").

// apiHostWithConfig is GET /api/v1/hosts/{id}: the host and its desired
// and applied config version and bandwidth caps.
type apiHostWithConfig struct {
	*server.Host
	Config apiConfigStatus `json:"config"`
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
