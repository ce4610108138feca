package server

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// openRepository unseals a host's repository as stored in
// repositories.sealed (nil when sealed is empty: no repository). The caller
// clears the password when done with it where it can.
func (s *Service) openRepository(hostID string, sealed []byte) (*topics.RepositoryConfig, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	plain, err := s.box.Open(sealed, repositoryAAD(hostID))
	if err != nil {
		return nil, fmt.Errorf("repository of %s: %w", hostID, err)
	}
	defer clear(plain)
	var repo topics.RepositoryConfig
	if err := json.Unmarshal(plain, &repo); err != nil {
		return nil, fmt.Errorf("repository of %s: %w", hostID, err)
	}
	return &repo, nil
}

// loadRepository is a host's repository, unsealed (nil: it has none): the
// source of a cross-host restore (jobs_restore.go).
func (s *Service) loadRepository(ctx context.Context, q sqlx.QueryerContext, hostID string) (*topics.RepositoryConfig, error) {
	var sealed []byte
	err := sqlx.GetContext(ctx, q, &sealed, `SELECT sealed FROM repositories WHERE host_id = ?`, hostID)
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: load repository of %s: %w", hostID, err)
	}
	return s.openRepository(hostID, sealed)
}
