package web

import (
	"strings"
	"testing"
)

// FuzzDecodeHooksRequest (#10): the body of PUT /api/v1/hosts/{id}/hooks
// is refused with one clean sentence, or accepted only when what the agent
// will get validates; a field that is absent stays nil (keep), one that is
// null or "" clears.
func FuzzDecodeHooksRequest(f *testing.F) {
	for _, seed := range []string{
		`{"pre_hook":"pg_dump db > /tmp/db.sql","post_hook":"rm /tmp/db.sql","hook_timeout_seconds":120}`,
		`{"pre_hook":null}`, `{"post_hook":""}`, `{"hook_timeout_seconds":0}`, `{"hook_timeout_seconds":86401}`,
		`{"pre_hook":"a\u0000b"}`, `{"pre_hook":"` + strings.Repeat("x", 70000) + `"}`, `{"pre_hook":7}`, `{"pre_hook":["x"]}`,
		`{"prehook":"x"}`, `{}`, `null`, `[]`, `{`, "\xff", `{"pre_hook":"\xff"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := decodeHooksRequest(strings.NewReader(string(body)))
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if err := in.Wire().Validate(); err != nil {
			t.Fatalf("accepted %q but the hooks are invalid: %v", body, err)
		}
		if in.PreHook != nil && !strings.Contains(string(body), "pre_hook") {
			t.Fatalf("a pre_hook from nowhere in %q", body)
		}
	})
}
