package server

import (
	"context"
	"fmt"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// An external broker (Mosquitto with dynamic security) checks every CONNECT
// itself, against the clients the server provisioned, so a pending client
// must exist there before the agent connects. The agent's bootstrap request
// (POST topics.BootstrapPath, topics.BootstrapRequest) names its pending ID
// and the password it will use, signed by its identity key; the server
// provisions a short-lived client with the pending row of the ACL from it.
// The embedded broker lets any well-formed pending ID in, so with it
// nothing is provisioned and nothing here applies.
//
// The embedded broker's limits on pending clients, here:
//   - how many: at most AnnounceOptions.MaxPending pending clients at once,
//     MaxPendingPerAddr of them from one source address (the embedded
//     broker counts connections; here provisioned clients, which outlive
//     a connection until they are deleted or expire);
//   - how long: ClientTTL from the latest bootstrap request; the pending
//     sweep deletes expired ones (an agent still waiting is refused on its
//     next CONNECT and bootstraps again);
//   - how often: HellosPerAddrPerMinute bootstrap requests per source
//     address, beside the same limit on announce hellos;
//   - deleted as soon as it is not needed: on approval (after the approval
//     is sent; the host's own client was provisioned in the approval's
//     transaction), on rejection, and when the accepted host first connects
//     (an agent that missed its approval bootstraps again and fetches it).
// Per-connection limits (keepalive, packet sizes, connect rates) are
// Mosquitto's own settings (docs/external-broker.md).

// provisionedClient is a pending client this server made on the broker.
type provisionedClient struct {
	addr    string
	expires time.Time
}

// BootstrapPending makes the pending client req names able to connect to
// a broker that keeps its own accounts, for an agent that asked from remote
// ("ip:port"). With the embedded broker it does nothing. Refusals: too many
// requests from the address (rate_limited), this machine was rejected
// (forbidden), too many pending clients (unavailable, the agent retries),
// the broker failing (unavailable).
func (s *Service) BootstrapPending(ctx context.Context, req *topics.BootstrapRequest, remote string) error {
	p := s.provisioner()
	if p == nil {
		return nil
	}
	addr := sourceAddr(remote)
	if !s.ann.bootstraps.allow(addr) {
		return &Error{Code: CodeRateLimited, RetryAfter: time.Minute,
			Message: "Too many machines announcing from this address; the agent tries again in a minute."}
	}
	now := s.now()
	var state string
	err := s.db.GetContext(ctx, &state, `SELECT state FROM pending_hosts WHERE client_id = ? AND expires_at > ?`, req.Client, now)
	switch {
	case isNoRows(err):
	case err != nil:
		return &Error{Code: CodeUnavailable, RetryAfter: time.Minute, Err: err,
			Message: "The server cannot read its store now; the agent tries again shortly."}
	case state == PendingStateRejected:
		return &Error{Code: CodeForbidden, Message: msgRejected}
	}
	expires := now.Add(s.ann.opts.ClientTTL)
	if refusal := s.ann.reserveClient(req.Client, addr, expires, now); refusal != "" {
		return &Error{Code: CodeUnavailable, RetryAfter: time.Minute,
			Message: "Too many machines are waiting to announce " + refusal + "; the agent tries again shortly."}
	}
	if err := p.ProvisionPending(req.Client, req.Password, expires); err != nil {
		s.ann.forgetClients(req.Client)
		return &Error{Code: CodeUnavailable, RetryAfter: time.Minute, Err: fmt.Errorf("broker: provision pending %s: %w", req.Client, err),
			Message: "The server could not reach its broker; the agent tries again shortly."}
	}
	// The address the announce comes from, for the hello limit and the
	// admins' list: the external broker reports no connections (conn 0).
	s.PendingConnected(req.Client, 0, remote)
	return nil
}

// dropPendingClients deletes pending clients from a broker that keeps its
// own accounts, which also closes their connections. With the embedded
// broker it does nothing: there, a pending client's session ends with its
// connection.
func (s *Service) dropPendingClients(ids ...string) {
	if len(ids) == 0 || s.provisioner() == nil {
		return
	}
	s.ann.forgetClients(ids...)
	s.pubMu.Lock()
	d := s.disconnecter
	s.pubMu.Unlock()
	for _, id := range ids {
		d.Disconnect(id)
	}
}

// sweepPendingClients deletes the pending clients whose time is up. The
// first sweep after a start also learns the broker's pending clients from
// the broker itself (those a previous run or another replica made), with
// the expiry written on each.
func (s *Service) sweepPendingClients() {
	p := s.provisioner()
	if p == nil {
		return
	}
	if !s.ann.clientsListed.Load() {
		list, err := p.PendingClients()
		if err != nil {
			s.log.Warn("announce: list the broker's pending clients", "err", err)
		} else {
			s.ann.clientsListed.Store(true)
			s.ann.learnClients(list)
		}
	}
	if expired := s.ann.expiredClients(s.now()); len(expired) > 0 {
		s.log.Info("announce: expired pending clients deleted from the broker", "count", len(expired))
		s.dropPendingClients(expired...)
	}
}

// reserveClient records client as provisioned from addr until expires, or
// says which cap it would exceed ("" when it fits). A client provisioned
// already only has its expiry and address renewed.
func (a *announcer) reserveClient(client, addr string, expires, now time.Time) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.clients[client]; !ok {
		total, fromAddr := 0, 0
		for _, c := range a.clients {
			if !now.Before(c.expires) {
				continue // the sweep deletes it
			}
			total++
			if c.addr == addr {
				fromAddr++
			}
		}
		switch {
		case fromAddr >= a.opts.MaxPendingPerAddr:
			return fmt.Sprintf("from this address (limit %d)", a.opts.MaxPendingPerAddr)
		case total >= a.opts.MaxPending:
			return fmt.Sprintf("(limit %d)", a.opts.MaxPending)
		}
	}
	a.clients[client] = provisionedClient{addr: addr, expires: expires}
	return ""
}

// forgetClients drops clients from the provisioned set.
func (a *announcer) forgetClients(ids ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		delete(a.clients, id)
	}
}

// learnClients adds the broker's pending clients this server did not know,
// with their expiry (the zero time, for one without, expires at once).
func (a *announcer) learnClients(list map[string]time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, at := range list {
		if _, ok := a.clients[id]; !ok {
			a.clients[id] = provisionedClient{addr: unknownAddr, expires: at}
		}
	}
}

// expiredClients returns the provisioned clients whose time is up.
func (a *announcer) expiredClients(now time.Time) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for id, c := range a.clients {
		if !now.Before(c.expires) {
			out = append(out, id)
		}
	}
	return out
}
