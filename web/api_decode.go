package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// enrollmentTokenRequest is the body of POST /api/v1/enrollment-tokens.
type enrollmentTokenRequest struct {
	HostName string      `json:"host_name"`
	TTL      apiDuration `json:"ttl"` // "90m", "24h" or seconds; absent means 1 h
}

func (r *enrollmentTokenRequest) validate() error {
	r.HostName = strings.TrimSpace(r.HostName)
	if r.HostName == "" {
		return invalid("Send host_name: the name the new host will have, e.g. \"web-01\".")
	}
	return nil
}

// pendingAcceptRequest is the body of POST /api/v1/pending-hosts/{id}/accept:
// the new host's name and, optionally, its repository (set in the same
// step; its init job runs once the agent is connected as the host).
type pendingAcceptRequest struct {
	Name       string             `json:"name"`
	Repository *repositoryRequest `json:"repository"`
}

func (r *pendingAcceptRequest) validate() error {
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" {
		return invalid("Send name: the name the new host gets, e.g. \"web-01\".")
	}
	if r.Repository != nil {
		return r.Repository.validate()
	}
	return nil
}

// repository is the domain's form of the optional repository.
func (r *pendingAcceptRequest) repository() *server.RepositoryInput {
	if r.Repository == nil {
		return nil
	}
	in := r.Repository.input()
	return &in
}

// apiDuration is a duration in JSON: a Go duration string ("90m", "24h")
// or a whole number of seconds.
type apiDuration time.Duration

// maxAPIDurationSeconds keeps seconds*time.Second far from overflow; the
// domain enforces the real bounds.
const maxAPIDurationSeconds = 100 * 365 * 24 * 3600

// UnmarshalJSON implements json.Unmarshaler.
func (d *apiDuration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*d = 0
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*d = 0
			return nil
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return &fieldError{fmt.Sprintf("%q is not a duration like \"1h\" or \"90m\"; fix it and try again.", clip(s, 40))}
		}
		*d = apiDuration(v)
		return nil
	}
	secs, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || secs < 0 || secs > maxAPIDurationSeconds {
		return &fieldError{"A duration (ttl, expires_in) must be like \"1h\" or a whole number of seconds; fix it and try again."}
	}
	*d = apiDuration(time.Duration(secs) * time.Second)
	return nil
}

// decodeJSON reads exactly one JSON object from r into v. Unknown fields are
// ignored, so older servers accept newer agents. Every failure is a
// server.Error with a sentence the caller can act on.
func decodeJSON(r io.Reader, v any) error { return decodeJSONObject(r, v, false) }

// decodeStrictJSON is decodeJSON for requests people and scripts write by
// hand (jobs, repositories): an unknown field is refused, because a
// misspelled "exclude" or "keep_last" silently ignored would run a job
// that does something else than asked.
func decodeStrictJSON(r io.Reader, v any) error { return decodeJSONObject(r, v, true) }

func decodeJSONObject(r io.Reader, v any, strict bool) error {
	dec := json.NewDecoder(r)
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		var fieldErr *fieldError
		switch {
		case errors.As(err, &tooBig):
			return invalid("The request body is too large; send one small JSON object.")
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return invalid(fmt.Sprintf("Field %q has the wrong type; see /api/v1/openapi.json for the expected shape.", clip(jsonFieldPath(v, typeErr.Field), 60)))
		case errors.Is(err, io.EOF):
			return invalid("The request body is empty; send one JSON object.")
		case errors.As(err, &fieldErr):
			return invalid(fieldErr.msg)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			// encoding/json has no typed error for this one.
			name := strings.TrimPrefix(err.Error(), "json: unknown field ")
			return invalid(fmt.Sprintf("Field %s is not known here; check its spelling against /api/v1/openapi.json.", clip(name, 60)))
		}
		return invalid("The request body is not valid JSON; send one JSON object.")
	}
	if dec.More() {
		return invalid("The request body has more than one JSON value; send one JSON object.")
	}
	return nil
}

// decodeEnrollmentTokenRequest parses and validates an untrusted body.
func decodeEnrollmentTokenRequest(r io.Reader) (enrollmentTokenRequest, error) {
	var req enrollmentTokenRequest
	if err := decodeJSON(r, &req); err != nil {
		return req, err
	}
	return req, req.validate()
}

// decodeAgentEnrollRequest parses an untrusted enrollment body and checks
// it with topics' rules (EnrollRequest.Validate).
func decodeAgentEnrollRequest(r io.Reader) (topics.EnrollRequest, error) {
	var req topics.EnrollRequest
	if err := decodeJSON(r, &req); err != nil {
		return req, err
	}
	if err := req.Validate(); err != nil {
		return req, invalid(fmt.Sprintf("The enrollment request is refused (%v); copy the token from the Enroll page again.", err))
	}
	return req, nil
}

// decodePendingAcceptRequest parses and validates an untrusted body.
func decodePendingAcceptRequest(r io.Reader) (pendingAcceptRequest, error) {
	var req pendingAcceptRequest
	if err := decodeJSON(r, &req); err != nil {
		return req, err
	}
	return req, req.validate()
}

func invalid(msg string) error { return &server.Error{Code: server.CodeInvalid, Message: msg} }

// fieldError is a field's own decoder refusing its value, with the sentence
// to show.
type fieldError struct{ msg string }

func (e *fieldError) Error() string { return e.msg }
