package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"github.com/restic-manager/restic-manager/server"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

func ptr[T any](v T) *T { return &v }

const (
	testPreHook  = "pg_dump -f /var/backups/db.sql secret-db-name-7f3a"
	testPostHook = "rm -f /var/backups/db.sql # post-secret-91c2"
	testHostPre  = "systemctl stop host-default-secret-5d1e"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestHooksSealedSentAndAudited (#10): group hooks and host defaults are
// stored sealed (no body in any row), reach the agent in the config, and
// the audit log names which hook changed with the SHA-256 of its body,
// never the body.
func TestHooksSealedSentAndAudited(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	in := etcGroup
	in.Hooks = server.HookInput{PreHook: ptr(testPreHook), PostHook: ptr(testPostHook), TimeoutSeconds: ptr(30)}
	g := f.group(t, in)
	if !g.HasPreHook || !g.HasPostHook || g.TimeoutSeconds != 30 {
		t.Fatalf("group hook status: %+v", g.HookStatus)
	}
	if _, err := f.s.SetHostHooks(ctx, f.admin, f.host, server.HookInput{PreHook: ptr(testHostPre)}); err != nil {
		t.Fatal(err)
	}
	cfg := f.lastConfig(t)
	w := cfg.SourceGroups[0]
	if w.PreHook != testPreHook || w.PostHook != testPostHook || w.TimeoutSeconds != 30 {
		t.Fatalf("group hooks on the wire: %+v", w.Hooks)
	}
	if cfg.HostHooks == nil || cfg.HostHooks.PreHook != testHostPre || cfg.HostHooks.PostHook != "" ||
		cfg.HostHooks.TimeoutSeconds != topics.DefaultHookTimeout || cfg.HostName != "web-1" {
		t.Fatalf("host hooks on the wire: %+v (host name %q)", cfg.HostHooks, cfg.HostName)
	}
	pre, post := cfg.HooksFor(g.Key)
	if pre.Body != testPreHook || !pre.FromGroup || post.Body != testPostHook {
		t.Fatalf("effective hooks: %+v %+v", pre, post)
	}

	// No row holds a body: every text and blob column of both tables.
	for _, q := range []string{`SELECT pre_hook_sealed, post_hook_sealed FROM source_groups`,
		`SELECT pre_hook_sealed, post_hook_sealed FROM hosts`} {
		rows, err := f.s.DB().Queryx(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			cols, err := rows.SliceScan()
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cols {
				b, _ := c.([]byte)
				for _, body := range []string{testPreHook, testPostHook, testHostPre, "secret"} {
					if strings.Contains(string(b), body) {
						t.Fatalf("%s: a sealed column holds %q", q, body)
					}
				}
			}
		}
		rows.Close()
	}

	audit, err := f.s.ListAudit(ctx, server.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action)
		for _, body := range []string{testPreHook, testPostHook, testHostPre, "secret-db", "host-default"} {
			if strings.Contains(e.Details, body) {
				t.Fatalf("audit %s holds a hook body: %s", e.Action, e.Details)
			}
		}
		switch e.Action {
		case "source_group.create": // the group's hooks are in its save's row
			if !strings.Contains(e.Details, `"hook":"pre_hook","sha256":"`+sha(testPreHook)+`"`) ||
				!strings.Contains(e.Details, `"hook":"post_hook","sha256":"`+sha(testPostHook)+`"`) {
				t.Fatalf("group hook audit: %s", e.Details)
			}
		case "host.hooks_updated":
			if !strings.Contains(e.Details, `"hook":"pre_hook","sha256":"`+sha(testHostPre)+`"`) || strings.Contains(e.Details, "post_hook") {
				t.Fatalf("host hook audit: %s", e.Details)
			}
		}
	}
	if !strings.Contains(strings.Join(actions, ","), "host.hooks_updated,source_group.create,user.create") {
		t.Fatalf("audit actions (newest first): %v", actions)
	}
}

// TestHookBodiesAdminsOnly (#10): operators and viewers learn that a hook
// is set but never its body, and cannot set one.
func TestHookBodiesAdminsOnly(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	in := etcGroup
	in.Hooks = server.HookInput{PreHook: ptr(testPreHook)}
	g := f.group(t, in)
	if _, err := f.s.SetHostHooks(ctx, f.admin, f.host, server.HookInput{PostHook: ptr(testPostHook)}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []server.Actor{f.operator, f.viewer} {
		set, err := f.s.SourceGroupHooks(ctx, a, f.host, g.Key)
		if err != nil || set.PreHook != nil || set.PostHook != nil || !set.HasPreHook || set.HasPostHook {
			t.Fatalf("%s reads the group's hooks: %v %+v", a.Role, err, set)
		}
		host, err := f.s.GetHostHooks(ctx, a, f.host)
		if err != nil || host.PreHook != nil || host.PostHook != nil || host.HasPreHook || !host.HasPostHook {
			t.Fatalf("%s reads the host's hooks: %v %+v", a.Role, err, host)
		}
		if _, err := f.s.SetHostHooks(ctx, a, f.host, server.HookInput{PreHook: ptr("id")}); server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Fatalf("%s sets host hooks: %v", a.Role, err)
		}
		if _, err := f.s.UpdateSourceGroup(ctx, a, f.host, g.Key, in); server.ErrorCodeOf(err) != server.CodeForbidden {
			t.Fatalf("%s updates a group with hooks: %v", a.Role, err)
		}
	}
	set, err := f.s.SourceGroupHooks(ctx, f.admin, f.host, g.Key)
	if err != nil || set.PreHook == nil || *set.PreHook != testPreHook || set.PostHook == nil || *set.PostHook != "" {
		t.Fatalf("admin reads the group's hooks: %v %+v", err, set)
	}
}

// TestHookUpdateKeepsClearsAndRefuses (#10): an absent body keeps the
// stored hook, "" clears it, a change that changes nothing is neither
// sent nor audited, and bad input (too long, NUL, timeout out of range,
// a config too large for one message) stores nothing.
func TestHookUpdateKeepsClearsAndRefuses(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	in := etcGroup
	in.Hooks = server.HookInput{PreHook: ptr(testPreHook), PostHook: ptr(testPostHook)}
	g := f.group(t, in)
	version := f.configStatus(t).Desired

	in.Hooks = server.HookInput{} // keep both
	if up, err := f.s.UpdateSourceGroup(ctx, f.admin, f.host, g.Key, in); err != nil || !up.HasPreHook || !up.HasPostHook {
		t.Fatalf("update without hooks: %v %+v", err, up)
	}
	in.Hooks = server.HookInput{PostHook: ptr("")} // clear post, keep pre
	if up, err := f.s.UpdateSourceGroup(ctx, f.admin, f.host, g.Key, in); err != nil || !up.HasPreHook || up.HasPostHook {
		t.Fatalf("clear the post hook: %v %+v", err, up)
	}
	if w := f.lastConfig(t).SourceGroups[0]; w.PreHook != testPreHook || w.PostHook != "" {
		t.Fatalf("wire after clearing: %+v", w.Hooks)
	}
	// Keeping both changed nothing: one audit row, for the clear.
	audit, _ := f.s.ListAudit(ctx, server.AuditFilter{Action: "source_group.update"})
	if len(audit) != 1 || !strings.Contains(audit[0].Details, `"hooks":{"changed":[{"hook":"post_hook","cleared":true}]`) {
		t.Fatalf("hook audit rows: %+v", audit)
	}

	// Setting host hooks to what they are changes nothing.
	if _, err := f.s.SetHostHooks(ctx, f.admin, f.host, server.HookInput{PreHook: ptr("")}); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.s.ListAudit(ctx, server.AuditFilter{Action: "host.hooks_updated"}); len(n) != 0 {
		t.Fatalf("a no-op change was audited: %+v", n)
	}
	versionBefore := f.configStatus(t).Desired
	if versionBefore != version+1 {
		t.Fatalf("config version %d after an unchanged and a changing update from %d", versionBefore, version)
	}

	big := strings.Repeat("x", topics.MaxHookBody)
	for name, h := range map[string]server.HookInput{
		"too long":      {PreHook: ptr(big + "y")},
		"NUL":           {PostHook: ptr("echo a\x00b")},
		"not UTF-8":     {PreHook: ptr("echo \xff")},
		"timeout < 0":   {TimeoutSeconds: ptr(-1)},
		"timeout > day": {TimeoutSeconds: ptr(topics.MaxHookTimeout + 1)},
	} {
		if _, err := f.s.SetHostHooks(ctx, f.admin, f.host, h); server.ErrorCodeOf(err) != server.CodeInvalid || strings.Contains(server.PublicMessage(err), "xxxx") {
			t.Fatalf("%s (host): %v", name, err)
		}
		in.Hooks = h
		if _, err := f.s.UpdateSourceGroup(ctx, f.admin, f.host, g.Key, in); server.ErrorCodeOf(err) != server.CodeInvalid {
			t.Fatalf("%s (group): %v", name, err)
		}
	}
	// Four bodies of 64 KiB do not fit into one config message.
	if _, err := f.s.SetHostHooks(ctx, f.admin, f.host, server.HookInput{PreHook: ptr(big), PostHook: ptr(big)}); err != nil {
		t.Fatalf("host hooks of 2 x 64 KiB: %v", err)
	}
	in.Hooks = server.HookInput{PreHook: ptr(big), PostHook: ptr(big)}
	if _, err := f.s.UpdateSourceGroup(ctx, f.admin, f.host, g.Key, in); server.ErrorCodeOf(err) != server.CodeInvalid ||
		!strings.Contains(server.PublicMessage(err), "more than the 256 KiB") {
		t.Fatalf("a config over one message: %v", err)
	}
	if set, _ := f.s.SourceGroupHooks(ctx, f.admin, f.host, g.Key); *set.PreHook != testPreHook {
		t.Fatal("a refused update changed the group's hooks")
	}
	if st := f.configStatus(t); st.Desired != versionBefore+1 {
		t.Fatalf("refused changes bumped the config version: %d, want %d", st.Desired, versionBefore+1)
	}
}

// TestSealedHookBoundToItsPlace (#10): a sealed body copied to another
// column or group does not open there, and the config build fails rather
// than send it.
func TestSealedHookBoundToItsPlace(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	in := etcGroup
	in.Hooks = server.HookInput{PreHook: ptr(testPreHook)}
	g := f.group(t, in)
	if _, err := f.s.DB().Exec(`UPDATE source_groups SET post_hook_sealed = pre_hook_sealed WHERE id = ?`, g.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.SourceGroupHooks(ctx, f.admin, f.host, g.Key); server.ErrorCodeOf(err) != server.CodeInternal {
		t.Fatalf("a moved seal opened: %v", err)
	}
	if cfg, err := f.s.HostConfig(ctx, f.host); err == nil {
		t.Fatalf("config built with a moved seal: %+v", cfg)
	}
}

// TestConfigSentWhenTheRequestIsGone: a change commits, then its request
// is canceled (the browser navigated away): the config still goes out,
// instead of waiting for the host's next hello.
func TestConfigSentWhenTheRequestIsGone(t *testing.T) {
	f := newJobsFixture(t)
	f.group(t, etcGroup)
	before := len(f.agent.Configs(t, f.pub))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	f.s.ConfigChanged(ctx, f.host)
	if n := len(f.agent.Configs(t, f.pub)); n != before+1 {
		t.Fatalf("%d configs published after a canceled request, want %d", n, before+1)
	}
}
