package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// groupKey is a source group's wire id.
func groupKey(id int64) string { return "sg_" + strconv.FormatInt(id, 10) }

// groupRow is a source_groups row; the lists are JSON.
type groupRow struct {
	ID                int64     `db:"id"`
	HostID            string    `db:"host_id"`
	Name              string    `db:"name"`
	Paths             string    `db:"paths"`
	Excludes          string    `db:"excludes"`
	ExcludeFiles      string    `db:"exclude_files"`
	ExcludeCaches     bool      `db:"exclude_caches"`
	OneFileSystem     bool      `db:"one_file_system"`
	Tags              string    `db:"tags"`
	Retention         *string   `db:"retention"`
	ForgetAfterBackup bool      `db:"forget_after_backup"`
	CreatedAt         time.Time `db:"created_at"`
	UpdatedAt         time.Time `db:"updated_at"`
	sealedHooks
}

const groupColumns = `id, host_id, name, paths, excludes, exclude_files, exclude_caches, one_file_system, tags,
	retention, forget_after_backup, created_at, updated_at, pre_hook_sealed, post_hook_sealed, hook_timeout_seconds`

// hooks are the group's sealed hook columns (#10).
func (r *groupRow) hooks() sealedHooks { return r.sealedHooks }

// loadGroupRows reads the host's groups by name.
func loadGroupRows(ctx context.Context, q sqlx.QueryerContext, hostID string) ([]groupRow, error) {
	var rows []groupRow
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT `+groupColumns+` FROM source_groups WHERE host_id = ?
		ORDER BY `+dialectOf(q).nocase(`name`)+`, id`, hostID); err != nil {
		return nil, fmt.Errorf("store: load source groups of %s: %w", hostID, err)
	}
	return rows, nil
}

// findGroup reads one of the host's groups by reference: its key (sg_12),
// its number (12) or its name (any case). A number that is no group of the
// host is tried as a name (a group may be called "2024"). It returns nil
// when there is none.
func findGroup(ctx context.Context, q sqlx.QueryerContext, hostID, ref string) (*groupRow, error) {
	ref = strings.TrimSpace(ref)
	var rows []groupRow
	load := func(where string, arg any) error {
		return sqlx.SelectContext(ctx, q, &rows, `SELECT `+groupColumns+` FROM source_groups WHERE host_id = ? AND `+where, hostID, arg)
	}
	num, isNum := strings.CutPrefix(ref, "sg_")
	if id, err := strconv.ParseInt(num, 10, 64); err == nil && id > 0 {
		if err := load(`id = ?`, id); err != nil {
			return nil, fmt.Errorf("store: load source group: %w", err)
		}
		if len(rows) > 0 || isNum {
			return firstGroup(rows), nil
		}
	}
	if err := load(dialectOf(q).nocaseEq(`name`), ref); err != nil {
		return nil, fmt.Errorf("store: load source group: %w", err)
	}
	return firstGroup(rows), nil
}

func firstGroup(rows []groupRow) *groupRow {
	if len(rows) == 0 {
		return nil
	}
	return &rows[0]
}

// noGroup is the error for a reference that names no group of the host.
func noGroup(code ErrorCode, ref string) error {
	return &Error{Code: code, Message: fmt.Sprintf("There is no source group %q on this host.", clipText(ref))}
}

// input decodes the row's settings.
func (r *groupRow) input() SourceGroupInput {
	in := SourceGroupInput{Name: r.Name, ExcludeCaches: r.ExcludeCaches, OneFileSystem: r.OneFileSystem,
		ForgetAfterBackup: r.ForgetAfterBackup, Paths: decodeList(r.Paths), Excludes: decodeList(r.Excludes),
		ExcludeFiles: decodeList(r.ExcludeFiles), Tags: decodeList(r.Tags)}
	if r.Retention != nil {
		var ret topics.Retention
		if json.Unmarshal([]byte(*r.Retention), &ret) == nil {
			in.Retention = &ret
		}
	}
	return in
}

// group converts the row to what the UI and API show (without schedules
// and last backup).
func (r *groupRow) group() SourceGroup {
	return SourceGroup{ID: r.ID, Key: groupKey(r.ID), HostID: r.HostID, SourceGroupInput: r.input(),
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Schedules: []Schedule{}, HookSet: HookSet{HookStatus: r.hooks().status()}}
}

// wire is the group as the agent gets it in the config, its hooks opened.
func (s *Service) groupWire(r *groupRow) (topics.SourceGroup, error) {
	in := r.input()
	w := in.wire(r.ID)
	hooks, err := s.openHooks(hookOwner{group: r.ID}, r.hooks())
	if err != nil {
		return w, err
	}
	w.Hooks = hooks
	return w, nil
}

// wire is in as the agent would get it under id.
func (in *SourceGroupInput) wire(id int64) topics.SourceGroup {
	return topics.SourceGroup{ID: groupKey(id), Name: in.Name, Paths: in.Paths, Excludes: in.Excludes,
		ExcludeFiles: in.ExcludeFiles, ExcludeCaches: in.ExcludeCaches, OneFileSystem: in.OneFileSystem, Tags: in.Tags,
		Retention: in.Retention, ForgetAfterBackup: in.ForgetAfterBackup}
}

// backupSpec fills a backup's spec from the group: paths, excludes, tags
// plus the group tag, and the group's retention as forget-after when the
// group asks for it. The bandwidth fields of spec stay (a per-run override).
func (r *groupRow) backupSpec(spec topics.JobSpec) topics.JobSpec {
	in := r.input()
	key := groupKey(r.ID)
	spec.Kind = topics.JobBackup
	spec.SourceGroup = key
	spec.Paths, spec.Excludes, spec.ExcludeFiles = in.Paths, in.Excludes, in.ExcludeFiles
	spec.ExcludeCaches, spec.OneFileSystem = in.ExcludeCaches, in.OneFileSystem
	spec.Tags = append(in.Tags, topics.GroupTag(key))
	spec.ForgetAfter = nil
	if in.ForgetAfterBackup && in.Retention != nil {
		spec.ForgetAfter = in.Retention
	}
	return spec
}

// decodeList reads a stored JSON list (never nil: the API shows []).
func decodeList(s string) []string {
	out := []string{}
	_ = json.Unmarshal([]byte(s), &out)
	if out == nil {
		out = []string{}
	}
	return out
}

// encodeList stores a list as JSON ([] for none).
func encodeList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// cleanList trims each entry and drops the empty ones (blank form lines).
func cleanList(l []string) []string {
	out := []string{}
	for _, v := range l {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// normalize trims the input and checks it as the agent will (topics), in
// one sentence, without touching the store.
func (in SourceGroupInput) normalize() (SourceGroupInput, error) {
	in.Name = strings.TrimSpace(in.Name)
	in.Paths, in.Excludes = cleanList(in.Paths), cleanList(in.Excludes)
	in.ExcludeFiles, in.Tags = cleanList(in.ExcludeFiles), cleanList(in.Tags)
	if in.Retention != nil && in.Retention.Empty() {
		in.Retention = nil // a form with every keep-* blank: no policy
	}
	if in.Retention != nil {
		ret := *in.Retention
		ret.Within = strings.TrimSpace(ret.Within)
		ret.Tags = cleanList(ret.Tags)
		if len(ret.Tags) == 0 {
			ret.Tags = nil
		}
		in.Retention = &ret
	}
	w := in.wire(1)
	if err := w.Validate(); err != nil {
		return in, &Error{Code: CodeInvalid, Message: sentence(err.Error())}
	}
	return in, in.Hooks.check()
}
