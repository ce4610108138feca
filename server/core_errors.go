package server

import (
	"errors"
	"fmt"
	"time"
)

// ErrorCode classifies an Error so callers (web, cmd) can pick a status code
// or an exit code without parsing messages.
type ErrorCode string

// Error codes.
const (
	CodeInvalid      ErrorCode = "invalid"
	CodeNotFound     ErrorCode = "not_found"
	CodeConflict     ErrorCode = "conflict"
	CodeForbidden    ErrorCode = "forbidden"
	CodeUnauthorized ErrorCode = "unauthorized"
	CodeRateLimited  ErrorCode = "rate_limited"
	// CodeUnavailable: the server cannot serve this now (busy, store
	// failing); the client did nothing wrong and may retry.
	CodeUnavailable ErrorCode = "unavailable"
	CodeInternal    ErrorCode = "internal"
	// CodeHostOffline: the request needs the host's agent, which is not
	// connected now (#14, browse_ask.go).
	CodeHostOffline ErrorCode = "host_offline"
	// CodeAgentTimeout: the host's agent did not answer in time.
	CodeAgentTimeout ErrorCode = "agent_timeout"
	// CodeAgentFailed: the host's agent answered that it could not do it
	// (its restic failed, or is too old); the message is its sentence.
	CodeAgentFailed ErrorCode = "agent_failed"
)

// Error is a domain error whose Message is one sentence a person can act on.
// Internal causes are wrapped in Err and never shown to users.
type Error struct {
	Code    ErrorCode
	Message string
	Err     error
	// RetryAfter, when set, is how long the client should wait before
	// trying again (rate limits, a busy server); web sends it as Retry-After.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorCodeOf returns the code of err if it is (or wraps) an *Error, else CodeInternal.
func ErrorCodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// RetryAfterOf returns the wait err asks the client for, 0 when none.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// PublicMessage returns the user-facing sentence for err: the Message of an
// *Error, or a generic sentence for anything else (internal details stay in logs).
func PublicMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != CodeInternal {
		return e.Message
	}
	return "Something went wrong on the server; try again, and check the server log if it keeps happening."
}

func invalidf(format string, a ...any) error {
	return &Error{Code: CodeInvalid, Message: fmt.Sprintf(format, a...)}
}

func notFoundf(format string, a ...any) error {
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf(format, a...)}
}

func conflictf(format string, a ...any) error {
	return &Error{Code: CodeConflict, Message: fmt.Sprintf(format, a...)}
}

func internal(context string, err error) error {
	return &Error{Code: CodeInternal, Message: context, Err: err}
}
