package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// A host's repository (#3): URL, password and backend environment, sealed
// at rest with the master key and bound to the host, delivered to the agent
// only in its versioned down/config. Setting one queues an init job; the
// repository's state follows that job (restic init on an existing
// repository counts as success: the agent reports AlreadyInitialized).

// repositoryAAD binds a sealed repository to its host: the sealed bytes
// copied to another host's row do not open there.
func repositoryAAD(hostID string) string { return "repository:" + hostID }

// repositoryRow is what GetRepository reads: a repositories row (without
// the sealed secrets) and its host's config versions.
type repositoryRow struct {
	HostID         string     `db:"host_id"`
	URL            string     `db:"url"`
	EnvNames       string     `db:"env_names"`
	State          string     `db:"state"`
	InitJobID      *int64     `db:"init_job_id"`
	InitReason     string     `db:"init_reason"`
	InitializedAt  *time.Time `db:"initialized_at"`
	UpdatedAt      *time.Time `db:"updated_at"` // NULL: no repository (a LEFT JOIN)
	ConfigVersion  int64      `db:"config_version"`
	AppliedVersion int64      `db:"applied_config_version"`
}

// repositoryInput validates in as a RepositoryConfig; the error is one
// sentence that never quotes a secret.
func repositoryInput(in RepositoryInput) (topics.RepositoryConfig, error) {
	cfg := topics.RepositoryConfig{URL: strings.TrimSpace(in.URL), Password: in.Password}
	if len(in.Env) > 0 {
		cfg.Env = maps.Clone(in.Env)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, &Error{Code: CodeInvalid, Message: sentence(err.Error())}
	}
	return cfg, nil
}

// sentence turns a validation error from topics into a sentence for people.
func sentence(s string) string {
	r := []rune(s)
	if len(r) > 0 {
		r[0] = unicode.ToUpper(r[0])
	}
	s = string(r)
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// SetRepository validates and stores (encrypted) a host's repository, bumps
// the host's config version, queues an init job for it (audited, in one
// transaction), then sends the new config to the agent and, if the host is
// online, the init command. An offline host gets both after its next hello.
func (s *Service) SetRepository(ctx context.Context, a Actor, hostID string, in RepositoryInput) (*Job, error) {
	if err := a.require(PermConfigure); err != nil {
		return nil, err
	}
	cfg, err := repositoryInput(in)
	if err != nil {
		return nil, err
	}
	h, err := s.GetHost(ctx, hostID)
	if err != nil {
		return nil, err
	}
	var jobID int64
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var version int64
		jobID, version, err = s.storeRepository(ctx, tx, hostID, cfg, a.Name)
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "repository.set", h.Name, repositoryAudit(hostID, cfg, version, jobID))
	})
	if err != nil {
		return nil, txError("Could not set the repository", err)
	}
	s.log.Info("repository set", "host", hostID, "url", redactRepositoryURL(cfg.URL), "job", jobID, "by", a.Name)
	s.configChanged(ctx, hostID)
	return s.dispatchNewJob(ctx, jobID, EventRepositoryChanged)
}

// repositoryAudit is what the audit log says about a repository: the
// redacted URL and the names of the backend variables, never a secret.
func repositoryAudit(hostID string, cfg topics.RepositoryConfig, version, jobID int64) map[string]any {
	return map[string]any{"host_id": hostID, "url": redactRepositoryURL(cfg.URL),
		"env_names": slices.Sorted(maps.Keys(cfg.Env)), "config_version": version, "init_job": jobID}
}

// storeRepository seals cfg into the host's repository row inside tx, bumps
// the host's config version and queues the init job for it. It returns the
// job's number and the new config version.
func (s *Service) storeRepository(ctx context.Context, tx *sqlx.Tx, hostID string, cfg topics.RepositoryConfig,
	createdBy string) (jobID, version int64, err error) {
	plain, err := json.Marshal(&cfg)
	if err != nil {
		return 0, 0, fmt.Errorf("store: encode repository: %w", err)
	}
	sealed := s.box.Seal(plain, repositoryAAD(hostID))
	clear(plain)
	if version, err = bumpConfigVersion(ctx, tx, hostID); err != nil {
		return 0, 0, err
	}
	jobID, err = s.insertJob(ctx, tx, hostID, topics.JobSpec{Kind: topics.JobInit}, version, DefaultJobExpiry, createdBy)
	if err != nil {
		return 0, 0, err
	}
	names, _ := json.Marshal(slices.Sorted(maps.Keys(cfg.Env)))
	now := s.now()
	_, err = tx.ExecContext(ctx, `INSERT INTO repositories (host_id, sealed, url, env_names, state, init_job_id, init_reason,
		initialized_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, '', NULL, ?)
		ON CONFLICT (host_id) DO UPDATE SET sealed = excluded.sealed, url = excluded.url, env_names = excluded.env_names,
		state = excluded.state, init_job_id = excluded.init_job_id, init_reason = '', initialized_at = NULL,
		updated_at = excluded.updated_at`,
		hostID, sealed, redactRepositoryURL(cfg.URL), string(names), RepoInitializing, jobID, now)
	if err != nil {
		return 0, 0, fmt.Errorf("store: save repository: %w", err)
	}
	return jobID, version, s.checkConfig(ctx, tx, hostID)
}

// GetRepository returns the state of a host's repository (RepoNone if unset).
func (s *Service) GetRepository(ctx context.Context, hostID string) (*RepositoryStatus, error) {
	if _, err := s.GetHost(ctx, hostID); err != nil {
		return nil, err
	}
	var r repositoryRow
	err := s.db.GetContext(ctx, &r, `SELECT h.id AS host_id, COALESCE(r.url, '') AS url,
		COALESCE(r.env_names, '[]') AS env_names, COALESCE(r.state, ?) AS state, r.init_job_id,
		COALESCE(r.init_reason, '') AS init_reason, r.initialized_at, r.updated_at,
		h.config_version, h.applied_config_version
		FROM hosts h LEFT JOIN repositories r ON r.host_id = h.id WHERE h.id = ?`, RepoNone, hostID)
	if err != nil {
		return nil, internal("Could not load the repository", err)
	}
	st := &RepositoryStatus{HostID: hostID, State: r.State, URL: r.URL, InitReason: r.InitReason,
		InitializedAt: r.InitializedAt, UpdatedAt: r.UpdatedAt, ConfigVersion: r.ConfigVersion, AppliedVersion: r.AppliedVersion}
	_ = json.Unmarshal([]byte(r.EnvNames), &st.EnvNames)
	if st.EnvNames == nil {
		st.EnvNames = []string{}
	}
	if r.InitJobID != nil {
		st.InitJobID = *r.InitJobID
	}
	return st, nil
}

// ReinitRepository queues a fresh init job for the host's repository after
// the host's name was typed out; admin only, audited. restic init never
// overwrites an existing repository: on one that exists it reports success,
// and where restic refuses (e.g. a half-written remote) the job fails and
// its log says the remote must be cleared by hand.
func (s *Service) ReinitRepository(ctx context.Context, a Actor, hostID, confirmName string) (*Job, error) {
	if err := a.require(PermConfigure); err != nil {
		return nil, err
	}
	h, err := s.GetHost(ctx, hostID)
	if err != nil {
		return nil, err
	}
	if confirmName != h.Name {
		return nil, invalidf("Type the host's name, %s, exactly to confirm the re-init.", h.Name)
	}
	var jobID int64
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var version int64
		if err := tx.GetContext(ctx, &version, `SELECT h.config_version FROM hosts h JOIN repositories r ON r.host_id = h.id
			WHERE h.id = ?`, hostID); isNoRows(err) {
			return invalidf("Set the host's repository first.")
		} else if err != nil {
			return err
		}
		if jobID, err = s.queueInit(ctx, tx, hostID, version, a.Name); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "repository.reinit", h.Name, map[string]any{"host_id": hostID, "init_job": jobID})
	})
	if err != nil {
		return nil, txError("Could not queue the re-init", err)
	}
	s.log.Info("repository re-init queued", "host", hostID, "job", jobID, "by", a.Name)
	return s.dispatchNewJob(ctx, jobID, EventRepositoryChanged)
}

// queueInit stores an init job for the host's current config and makes it
// the one the repository's state follows.
func (s *Service) queueInit(ctx context.Context, tx *sqlx.Tx, hostID string, version int64, createdBy string) (int64, error) {
	jobID, err := s.insertJob(ctx, tx, hostID, topics.JobSpec{Kind: topics.JobInit}, version, DefaultJobExpiry, createdBy)
	if err != nil {
		return 0, err
	}
	return jobID, followInit(ctx, tx, hostID, jobID, s.now())
}

// followInit makes jobID the init job the host's repository state follows.
func followInit(ctx context.Context, tx *sqlx.Tx, hostID string, jobID int64, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE repositories SET state = ?, init_job_id = ?, init_reason = '', updated_at = ?
		WHERE host_id = ?`, RepoInitializing, jobID, now, hostID)
	if err != nil {
		return fmt.Errorf("store: follow init job: %w", err)
	}
	return nil
}

// initEnded moves the repository's state when the init job it follows
// ends. It reports whether the repository changed.
func initEnded(ctx context.Context, tx *sqlx.Tx, hostID string, jobID int64, st topics.JobState, reason string,
	at, now time.Time) (bool, error) {
	var res sql.Result
	var err error
	if st == topics.JobSucceeded || st == topics.JobWarning {
		res, err = tx.ExecContext(ctx, `UPDATE repositories SET state = ?, init_reason = '', initialized_at = ?, updated_at = ?
			WHERE host_id = ? AND init_job_id = ?`, RepoReady, at, now, hostID, jobID)
	} else {
		if reason == "" {
			reason = fmt.Sprintf("The init job ended %s.", st)
		}
		res, err = tx.ExecContext(ctx, `UPDATE repositories SET state = ?, init_reason = ?, updated_at = ?
			WHERE host_id = ? AND init_job_id = ?`, RepoFailed, reason, now, hostID, jobID)
	}
	if err != nil {
		return false, fmt.Errorf("store: repository after init: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// RepositoryURLHasSecret reports whether u carries something redaction
// hides (a password in its user info, a query string): a page that was
// refused must not fill such a URL in again.
func RepositoryURLHasSecret(u string) bool { return redactRepositoryURL(u) != u }

// redactRepositoryURL hides a password in a URL's user info
// (rest:https://user:secret@host/ → rest:https://user:***@host/) and a
// query string (some backends take keys there).
func redactRepositoryURL(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	head, rest := u[:i+3], u[i+3:]
	query := ""
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		rest, query = rest[:q], "?***"
	}
	end := strings.IndexAny(rest, "/#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
		if user, _, hasPassword := strings.Cut(rest[:at], ":"); hasPassword {
			rest = user + ":***" + rest[at:]
		}
	}
	return head + rest + query
}

// txError passes domain errors through and wraps anything else.
func txError(context string, err error) error {
	if ErrorCodeOf(err) == CodeInternal {
		return internal(context, err)
	}
	return err
}
