package web

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/restic-manager/restic-manager/server"
)

// Hook fields of request bodies (#10): pre_hook and post_hook on a source
// group body and on PUT /api/v1/hosts/{id}/hooks. A string sets the hook,
// "" or null clears it, an absent field keeps what is stored;
// hook_timeout_seconds is 1..86400 (0 or null: the default, 600).

// optionalText is a JSON string field that tells absent from null.
type optionalText struct {
	set   bool
	value string
}

// UnmarshalJSON implements json.Unmarshaler (it is called for null too).
func (t *optionalText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	t.set = true
	if string(b) == "null" {
		t.value = ""
		return nil
	}
	if err := json.Unmarshal(b, &t.value); err != nil {
		return &fieldError{"pre_hook and post_hook are strings (the script), or \"\" or null to remove the hook."}
	}
	return nil
}

func (t optionalText) ptr() *string {
	if !t.set {
		return nil
	}
	v := t.value
	return &v
}

// hookFields are the hook fields of a body.
type hookFields struct {
	PreHook            optionalText `json:"pre_hook"`
	PostHook           optionalText `json:"post_hook"`
	HookTimeoutSeconds *int         `json:"hook_timeout_seconds"`
}

// input is the domain's form of the fields.
func (f hookFields) input() server.HookInput {
	return server.HookInput{PreHook: f.PreHook.ptr(), PostHook: f.PostHook.ptr(), TimeoutSeconds: f.HookTimeoutSeconds}
}

// hostHooksRequest is the body of PUT /api/v1/hosts/{id}/hooks: the hooks
// in the shape GET answers with (apiHostHooks), so what a GET gave can be
// PUT back; host_id, has_pre_hook and has_post_hook are read-only and
// ignored.
type hostHooksRequest struct {
	apiHostHooks
	hookFields
}

// decodeHooksRequest decodes the body of PUT /api/v1/hosts/{id}/hooks and
// checks it with topics' rules.
func decodeHooksRequest(r io.Reader) (server.HookInput, error) {
	var req hostHooksRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		return server.HookInput{}, err
	}
	in := req.input()
	if err := in.Wire().Validate(); err != nil {
		return in, specInvalid(err)
	}
	return in, nil
}
