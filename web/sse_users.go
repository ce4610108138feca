package web

import (
	"context"
	"time"

	"github.com/gin-gonic/gin"
)

// A stream ends as soon as its user's access changes: disabled, deleted,
// demoted or promoted, signed out by a password change elsewhere. The
// domain publishes user.changed for changes made in this process; for
// changes made by another process (the CLI next to a running server) the
// hub polls the users generation, a counter every change increments.

// usersPollEvery is how often the hub looks for user changes made by
// another process: one primary-key read.
const usersPollEvery = 2 * time.Second

// watchUser records who opened the stream, so the hub can poke it.
func (cl *sseClient) watchUser(c *gin.Context) {
	cl.recheck = make(chan struct{}, 1)
	if u := currentUser(c); u != nil {
		cl.userID, cl.role = u.ID, u.Role
	}
}

// recheckUsers pokes the streams of the users in ids (0: every stream).
func (hb *hub) recheckUsers(ids map[int64]bool) {
	if len(ids) == 0 {
		return
	}
	for _, cl := range hb.clientsWhere(func(cl *sseClient) bool { return ids[0] || ids[cl.userID] }) {
		select {
		case cl.recheck <- struct{}{}:
		default: // a re-check is already pending
		}
	}
}

// pollUsers pokes every stream when the users generation moved since the
// last poll (the first poll after start pokes them once, harmlessly).
func (hb *hub) pollUsers() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gen, err := hb.svc.UsersGeneration(ctx)
	if err != nil {
		hb.log.Warn("event hub: read users generation", "err", err)
		return
	}
	if gen != hb.usersGen {
		hb.usersGen = gen
		hb.recheckUsers(map[int64]bool{0: true})
	}
}

// streamStillAllowed re-checks a stream's session: it must still exist
// and its user must still have the role the stream started with (a page
// rendered for one role is re-read under another).
func (h *handler) streamStillAllowed(ctx context.Context, token string, cl *sseClient) bool {
	_, u, err := h.svc.LookupSession(ctx, token)
	return err == nil && u.Role == cl.role
}
