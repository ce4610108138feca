package web

import (
	"cmp"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// jobCreateRequest is the body of POST /api/v1/hosts/{id}/jobs: a job spec
// (kind and that kind's options, topics.JobSpec) and how long the job may
// wait for an offline host.
type jobCreateRequest struct {
	topics.JobSpec
	ExpiresIn apiDuration `json:"expires_in"` // "6h" or seconds; absent: server.DefaultJobExpiry
	// SourceGroup (backup only) backs up a source group, by id or name,
	// instead of paths of its own; the bandwidth fields still apply.
	SourceGroup string `json:"source_group"`
}

func (r *jobCreateRequest) validate() error {
	r.SourceGroup = strings.TrimSpace(r.SourceGroup)
	if err := checkJobSource(r.JobSpec, r.SourceGroup); err != nil {
		return err
	}
	// The bounds are the domain's (server.MinJobExpiry, server.MaxJobExpiry);
	// checked here too so that the sentence names the field.
	if d := time.Duration(r.ExpiresIn); d != 0 && (d < server.MinJobExpiry || d > server.MaxJobExpiry) {
		return invalid(fmt.Sprintf("expires_in must be between 1 second and %d days (e.g. \"6h\"); fix it and try again.",
			server.MaxJobExpiry/(24*time.Hour)))
	}
	return nil
}

// request is the domain's form of the job.
func (r *jobCreateRequest) request() server.JobRequest {
	return server.JobRequest{Spec: r.JobSpec, ExpiresIn: time.Duration(r.ExpiresIn), SourceGroup: r.SourceGroup}
}

// checkJobSource validates a job's spec and its source: a backup takes
// paths or a source group, exactly one of them; other kinds take no group.
// A group's own paths fill the spec in the domain, so the spec is checked
// here with a stand-in path.
func checkJobSource(spec topics.JobSpec, group string) error {
	if group != "" {
		switch {
		case spec.Kind != topics.JobBackup:
			return invalid("source_group belongs to a backup job; leave it out of a " + clip(string(spec.Kind), 20) + " job.")
		case len(spec.Paths) > 0:
			return invalid("Send either paths or source_group, not both: a source group brings its own paths.")
		}
		spec.Paths = []string{"/"}
	} else if spec.Kind == topics.JobBackup && len(spec.Paths) == 0 {
		return invalid("A backup needs at least one path (absolute, e.g. [\"/etc\"]) or a source_group (its id or name).")
	}
	if err := spec.Validate(); err != nil {
		return specInvalid(err)
	}
	return nil
}

// decodeJobCreateRequest parses and validates an untrusted body; unknown
// fields are refused (decodeStrictJSON).
func decodeJobCreateRequest(r io.Reader) (jobCreateRequest, error) {
	var req jobCreateRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		return req, err
	}
	return req, req.validate()
}

// repositoryRequest is a repository as the API takes it: the body of
// PUT /api/v1/hosts/{id}/repository and the optional "repository" of an
// accept. Every field is a secret; none is ever sent back.
type repositoryRequest struct {
	URL      string            `json:"url"`
	Password string            `json:"password"`
	Env      map[string]string `json:"env"`
}

func (r *repositoryRequest) validate() error {
	r.URL = strings.TrimSpace(r.URL)
	cfg := topics.RepositoryConfig{URL: r.URL, Password: r.Password, Env: r.Env}
	if err := cfg.Validate(); err != nil {
		return specInvalid(err)
	}
	return nil
}

// input is the domain's form of the repository.
func (r *repositoryRequest) input() server.RepositoryInput {
	return server.RepositoryInput{URL: r.URL, Password: r.Password, Env: r.Env}
}

// decodeRepositoryRequest parses and validates an untrusted body.
func decodeRepositoryRequest(r io.Reader) (repositoryRequest, error) {
	var req repositoryRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		return req, err
	}
	return req, req.validate()
}

// jobListQuery is the query string of GET /api/v1/jobs and of the jobs page.
type jobListQuery struct {
	Host   string
	Status topics.JobState
	Kind   topics.JobKind
	Before int64
	Limit  int
}

// maxJobListLimit mirrors server.JobFilter's bound.
const maxJobListLimit = 500

// parseJobListQuery reads host, status, kind, before and limit; a value
// that is present but wrong is an error rather than silently ignored.
func parseJobListQuery(get func(string) string) (jobListQuery, error) {
	q := jobListQuery{Host: strings.TrimSpace(get("host"))}
	if len(q.Host) > 64 {
		return q, invalid("That host ID is too long; take it from GET /api/v1/hosts.")
	}
	if s := get("status"); s != "" {
		q.Status = topics.JobState(s)
		if !q.Status.Valid() {
			return q, invalid("Unknown status " + strconv.Quote(clip(s, 40)) + "; use queued, delivered, running, succeeded, warning, failed, canceled, expired or interrupted.")
		}
	}
	if s := get("kind"); s != "" {
		q.Kind = topics.JobKind(s)
		if !q.Kind.Valid() {
			return q, invalid("Unknown kind " + strconv.Quote(clip(s, 40)) + "; use backup, forget, prune, check, snapshots, restore, unlock or init.")
		}
	}
	if s := get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return q, invalid("before must be a job number (a whole number above 0).")
		}
		q.Before = n
	}
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxJobListLimit {
			return q, invalid("limit must be a whole number from 1 to 500.")
		}
		q.Limit = n
	}
	return q, nil
}

// filter is the domain's form of the query.
func (q jobListQuery) filter() server.JobFilter {
	return server.JobFilter{HostID: q.Host, Status: q.Status, Kind: q.Kind, BeforeID: q.Before, Limit: q.Limit}
}

// defaultJobPage is the domain's page size when none is asked for
// (server.JobFilter.Limit).
const defaultJobPage = 50

// nextBefore is the "before" of the next, older page after jobs: a full
// page may have more after it; a short one is the end (0).
func (q jobListQuery) nextBefore(jobs []server.Job) int64 {
	if len(jobs) == 0 || len(jobs) < cmp.Or(q.Limit, defaultJobPage) {
		return 0
	}
	return jobs[len(jobs)-1].ID
}

// url is the jobs page showing q.
func (q jobListQuery) url() string {
	v := url.Values{}
	for k, s := range map[string]string{"host": q.Host, "status": string(q.Status), "kind": string(q.Kind)} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if len(v) == 0 {
		return "/jobs"
	}
	return "/jobs?" + v.Encode()
}

// specInvalid turns a topics validation error (lower case, no full stop)
// into the one sentence the API and the pages show.
func specInvalid(err error) error {
	msg := err.Error()
	// "unknown job kind" → "Unknown job kind"; a field name such as
	// read_data_subset stays as the API spells it.
	if first, _, _ := strings.Cut(msg, " "); !strings.Contains(first, "_") {
		r, n := utf8.DecodeRuneInString(msg)
		msg = string(unicode.ToUpper(r)) + msg[n:]
	}
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return invalid(msg)
}
