package web

import (
	"context"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// hookForm is the hooks part of the source group form and of the host's
// default hooks form (#10): two textareas and the timeout. Only admins
// (Readable) get the bodies and can edit; everyone else sees whether each
// hook is set.
type hookForm struct {
	PreHook, PostHook, HookTimeout string
	Readable                       bool
	HasPre, HasPost                bool
	// HostPre, HostPost: the host has a default of that hook (on a
	// group's form: which one applies when the group has none).
	HostPre, HostPost bool
}

// readHookForm reads the hook fields of a posted form (only admins may
// post one). Browsers send textarea lines with CRLF; the script gets LF.
func readHookForm(c *gin.Context) hookForm {
	body := func(name string) string {
		v := strings.ReplaceAll(c.PostForm(name), "\r\n", "\n")
		if strings.TrimSpace(v) == "" {
			return ""
		}
		return v
	}
	return hookForm{PreHook: body("pre_hook"), PostHook: body("post_hook"),
		HookTimeout: strings.TrimSpace(c.PostForm("hook_timeout_seconds")), Readable: true}
}

// input is the domain's form of the fields (both bodies always set: the
// textareas show the stored ones), or a sentence saying what to fix.
func (f hookForm) input() (server.HookInput, string) {
	timeout := 0
	if f.HookTimeout != "" {
		n, err := strconv.Atoi(f.HookTimeout)
		if err != nil {
			return server.HookInput{}, "Hook timeout must be a whole number of seconds (or empty for 600); fix it and try again."
		}
		timeout = n
	}
	pre, post := f.PreHook, f.PostHook
	in := server.HookInput{PreHook: &pre, PostHook: &post, TimeoutSeconds: &timeout}
	if err := in.Wire().Validate(); err != nil {
		return in, server.PublicMessage(specInvalid(err))
	}
	return in, ""
}

// keepStatus copies what the page knows about stored hooks (set or not,
// host defaults) from a fresh form into f, a refused form shown again.
func (f hookForm) keepStatus(fresh hookForm) hookForm {
	f.HasPre, f.HasPost, f.HostPre, f.HostPost = fresh.HasPre, fresh.HasPost, fresh.HostPre, fresh.HostPost
	return f
}

// newHookForm fills the form from a stored set as a sees it.
func newHookForm(set *server.HookSet) hookForm {
	f := hookForm{HasPre: set.HasPreHook, HasPost: set.HasPostHook, HookTimeout: strconv.Itoa(set.TimeoutSeconds)}
	if set.PreHook != nil && set.PostHook != nil {
		f.Readable, f.PreHook, f.PostHook = true, *set.PreHook, *set.PostHook
	}
	return f
}

// groupHookForm is the hooks part of a group's form (ref "" for a new
// group) with the host's defaults, as a sees them.
func (h *handler) groupHookForm(ctx context.Context, a server.Actor, hostID, ref string) (hookForm, error) {
	host, err := h.svc.GetHostHooks(ctx, a, hostID)
	if err != nil {
		return hookForm{}, err
	}
	f := hookForm{Readable: a.Role.Allows(server.PermConfigure), HookTimeout: strconv.Itoa(topics.DefaultHookTimeout)}
	if ref != "" {
		set, err := h.svc.SourceGroupHooks(ctx, a, hostID, ref)
		if err != nil {
			return hookForm{}, err
		}
		f = newHookForm(set)
	}
	f.HostPre, f.HostPost = host.HasPreHook, host.HasPostHook
	return f, nil
}
