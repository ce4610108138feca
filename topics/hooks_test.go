package topics

import (
	"strings"
	"testing"
	"time"
)

func TestHookValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    Hooks
		err  string // "" valid
	}{
		{"none", Hooks{}, ""},
		{"both, default timeout", Hooks{PreHook: "pg_dump db > /tmp/x\n", PostHook: "rm /tmp/x"}, ""},
		{"64 KiB", Hooks{PreHook: strings.Repeat("a", MaxHookBody)}, ""},
		{"a day", Hooks{TimeoutSeconds: MaxHookTimeout}, ""},
		{"over 64 KiB", Hooks{PreHook: strings.Repeat("a", MaxHookBody+1)}, "pre_hook is 65537 bytes"},
		{"NUL", Hooks{PostHook: "echo \x00"}, "post_hook contains a NUL byte"},
		{"not UTF-8", Hooks{PreHook: "echo \xff"}, "pre_hook is not valid UTF-8"},
		{"negative timeout", Hooks{TimeoutSeconds: -1}, "hook_timeout_seconds must be between 1 and 86400"},
		{"over a day", Hooks{TimeoutSeconds: MaxHookTimeout + 1}, "hook_timeout_seconds must be between 1 and 86400"},
	} {
		err := tc.h.Validate()
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), "echo") {
			t.Errorf("%s: the error quotes the body: %v", tc.name, err)
		}
		// The same rule holds inside a group and a config.
		g := SourceGroup{ID: "sg_1", Name: "g", Paths: []string{"/x"}, Hooks: tc.h}
		if (g.Validate() == nil) != (tc.err == "") {
			t.Errorf("%s in a group: %v", tc.name, g.Validate())
		}
		c := Config{Envelope: NewEnvelope(TypeConfig, "h_abc"), Version: 1, HostHooks: &tc.h}
		if (c.Validate() == nil) != (tc.err == "") {
			t.Errorf("%s as host hooks: %v", tc.name, c.Validate())
		}
	}
}

func TestEffectiveHooks(t *testing.T) {
	group := &Hooks{PreHook: "group pre", TimeoutSeconds: 5}
	host := &Hooks{PreHook: "host pre", PostHook: "host post"}
	for _, tc := range []struct {
		name        string
		group, host *Hooks
		pre, post   HookRun
	}{
		{"nothing", nil, nil, HookRun{}, HookRun{}},
		{"host only", nil, host, HookRun{Body: "host pre", Timeout: 600 * time.Second}, HookRun{Body: "host post", Timeout: 600 * time.Second}},
		{"group overrides pre, host post applies", group, host,
			HookRun{Body: "group pre", Timeout: 5 * time.Second, FromGroup: true}, HookRun{Body: "host post", Timeout: 600 * time.Second}},
		{"group without hooks", &Hooks{}, host, HookRun{Body: "host pre", Timeout: 600 * time.Second}, HookRun{Body: "host post", Timeout: 600 * time.Second}},
		{"group only", group, nil, HookRun{Body: "group pre", Timeout: 5 * time.Second, FromGroup: true}, HookRun{}},
	} {
		pre, post := EffectiveHooks(tc.group, tc.host)
		if pre != tc.pre || post != tc.post {
			t.Errorf("%s: %+v %+v, want %+v %+v", tc.name, pre, post, tc.pre, tc.post)
		}
	}
	cfg := Config{SourceGroups: []SourceGroup{{ID: "sg_1", Hooks: *group}, {ID: "sg_2"}}, HostHooks: host}
	if pre, _ := cfg.HooksFor("sg_1"); pre.Body != "group pre" {
		t.Errorf("sg_1: %+v", pre)
	}
	for _, id := range []string{"sg_2", "", "sg_9"} {
		if pre, _ := cfg.HooksFor(id); pre.Body != "host pre" {
			t.Errorf("%q: %+v", id, pre)
		}
	}
}

func TestIsHookLine(t *testing.T) {
	for _, tc := range []struct {
		stream, text string
		want         bool
	}{
		{StreamStdout, "hook: hello", true},
		{StreamStderr, "hook: [stderr] oops", true},
		{StreamAgent, "hook: said by the agent", false},
		{StreamStdout, `{"message_type":"status"}`, false},
		{StreamStdout, "hooks: no", false},
	} {
		if got := IsHookLine(tc.stream, tc.text); got != tc.want {
			t.Errorf("%s %q: %v", tc.stream, tc.text, got)
		}
	}
}

func TestConfigCheckSize(t *testing.T) {
	big := strings.Repeat("a", MaxHookBody)
	c := Config{Envelope: NewEnvelope(TypeConfig, "h_abc"), Version: 1, HostHooks: &Hooks{PreHook: big, PostHook: big}}
	if err := c.CheckSize(); err != nil {
		t.Fatalf("two bodies of 64 KiB: %v", err)
	}
	c.SourceGroups = []SourceGroup{{ID: "sg_1", Name: "g", Paths: []string{"/x"}, Hooks: Hooks{PreHook: big, PostHook: big}}}
	if err := c.CheckSize(); err == nil || !strings.Contains(err.Error(), "more than the 256 KiB") {
		t.Fatalf("four bodies of 64 KiB: %v", err)
	}
}
