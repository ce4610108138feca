package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/restic-manager/restic-manager/topics"
)

// Hook bodies at rest (#10): each body is sealed on its own with the master
// key and bound to its row and column (hookAAD), so a sealed body copied to
// another group, another host or the other hook does not open there. NULL
// is no hook. Nothing but the seal ever holds a body in the database; the
// audit log gets a SHA-256 of it.

// hookOwner names the row a hook belongs to: a source group (by number) or
// a host (by id).
type hookOwner struct {
	group int64
	host  string
}

// hookAAD binds a sealed body to its place, e.g. "source_group:12:pre_hook"
// or "host:h_ab12:post_hook".
func (o hookOwner) aad(which string) string {
	if o.group != 0 {
		return "source_group:" + strconv.FormatInt(o.group, 10) + ":" + which
	}
	return "host:" + o.host + ":" + which
}

// sealedHooks are a row's hook columns.
type sealedHooks struct {
	Pre     []byte `db:"pre_hook_sealed"`
	Post    []byte `db:"post_hook_sealed"`
	Timeout int    `db:"hook_timeout_seconds"`
}

// status is what any reader may know about the hooks.
func (h sealedHooks) status() HookStatus {
	return HookStatus{HasPreHook: len(h.Pre) > 0, HasPostHook: len(h.Post) > 0, TimeoutSeconds: h.Timeout}
}

// open returns the bodies as the agent gets them.
func (s *Service) openHooks(o hookOwner, h sealedHooks) (topics.Hooks, error) {
	out := topics.Hooks{TimeoutSeconds: h.Timeout}
	for _, f := range []struct {
		which  string
		sealed []byte
		dst    *string
	}{{topics.PreHook, h.Pre, &out.PreHook}, {topics.PostHook, h.Post, &out.PostHook}} {
		if len(f.sealed) == 0 {
			continue
		}
		plain, err := s.box.Open(f.sealed, o.aad(f.which))
		if err != nil {
			return topics.Hooks{}, fmt.Errorf("%s of %s: %w", f.which, o.aad(""), err)
		}
		*f.dst = string(plain)
		clear(plain)
	}
	return out, nil
}

// hookChange is one hook an update changed, as the audit log records it:
// which one, and the SHA-256 of its new body (none when it was cleared).
type hookChange struct {
	Hook    string `json:"hook"`
	SHA256  string `json:"sha256,omitempty"`
	Cleared bool   `json:"cleared,omitempty"`
}

// applyHooks merges in (nil keeps a body, "" clears it) into the stored
// hooks cur of owner o: the new sealed columns, and what changed (nil
// when nothing did). in must be valid (HookInput.check).
func (s *Service) applyHooks(o hookOwner, cur sealedHooks, in HookInput) (next sealedHooks, changes []hookChange, timeoutChanged bool, err error) {
	old, err := s.openHooks(o, cur)
	if err != nil {
		return cur, nil, false, err
	}
	next = cur
	for _, f := range []struct {
		which string
		in    *string
		old   string
		dst   *[]byte
	}{{topics.PreHook, in.PreHook, old.PreHook, &next.Pre}, {topics.PostHook, in.PostHook, old.PostHook, &next.Post}} {
		if f.in == nil || *f.in == f.old {
			continue
		}
		if *f.in == "" {
			*f.dst = nil
			changes = append(changes, hookChange{Hook: f.which, Cleared: true})
			continue
		}
		*f.dst = s.box.Seal([]byte(*f.in), o.aad(f.which))
		sum := sha256.Sum256([]byte(*f.in))
		changes = append(changes, hookChange{Hook: f.which, SHA256: hex.EncodeToString(sum[:])})
	}
	if in.TimeoutSeconds != nil {
		t := *in.TimeoutSeconds
		if t == 0 {
			t = topics.DefaultHookTimeout
		}
		timeoutChanged = t != cur.Timeout
		next.Timeout = t
	}
	return next, changes, timeoutChanged, nil
}

// hookSet is what reader a sees of hooks h: bodies only for those who may
// configure the host (admins); everyone else learns that a hook is set.
func (s *Service) hookSet(a Actor, o hookOwner, h sealedHooks) (*HookSet, error) {
	set := &HookSet{HookStatus: h.status()}
	if !a.Role.Allows(PermConfigure) {
		return set, nil
	}
	bodies, err := s.openHooks(o, h)
	if err != nil {
		return nil, internal("Could not open the hooks", err)
	}
	set.PreHook, set.PostHook = &bodies.PreHook, &bodies.PostHook
	return set, nil
}
