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
// Mosquitto's own settings (docs/external-broker.md). The provisioned
// clients and the counters are in the store, shared by the replicas
// (fleet_announce_limits.go).

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
	unavailable := func(err error) error {
		return &Error{Code: CodeUnavailable, RetryAfter: time.Minute, Err: err,
			Message: "The server cannot read its store now; the agent tries again shortly."}
	}
	if ok, err := s.allowAnnounce(ctx, rateBootstrap, s.ann.bootstraps, addr); err != nil {
		return unavailable(err)
	} else if !ok {
		return &Error{Code: CodeRateLimited, RetryAfter: time.Minute,
			Message: "Too many machines announcing from this address; the agent tries again in a minute."}
	}
	now := s.now()
	var state string
	err := s.db.GetContext(ctx, &state, `SELECT state FROM pending_hosts WHERE client_id = ? AND expires_at > ?`, req.Client, now)
	switch {
	case isNoRows(err):
	case err != nil:
		return unavailable(err)
	case state == PendingStateRejected:
		return &Error{Code: CodeForbidden, Message: msgRejected}
	}
	expires := now.Add(s.ann.opts.ClientTTL)
	if refusal, err := s.reservePendingClient(ctx, req.Client, addr, expires, now); err != nil {
		return unavailable(err)
	} else if refusal != "" {
		return &Error{Code: CodeUnavailable, RetryAfter: time.Minute,
			Message: "Too many machines are waiting to announce " + refusal + "; the agent tries again shortly."}
	}
	if err := p.ProvisionPending(req.Client, req.Password, expires); err != nil {
		if err := s.forgetPendingClients(context.WithoutCancel(ctx), req.Client); err != nil {
			s.log.Warn("announce: forget a pending client the broker refused", "client", req.Client, "err", err)
		}
		return &Error{Code: CodeUnavailable, RetryAfter: time.Minute, Err: fmt.Errorf("broker: provision pending %s: %w", req.Client, err),
			Message: "The server could not reach its broker; the agent tries again shortly."}
	}
	// The address the announce comes from, for the hello limit and the
	// admins' list: the external broker reports no connections (conn 0).
	// Another replica's hello reads it from the store (pendingClientAddr).
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.forgetPendingClients(ctx, ids...); err != nil {
		s.log.Warn("announce: forget pending clients", "count", len(ids), "err", err)
	}
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !s.ann.clientsListed.Load() {
		list, err := p.PendingClients()
		if err == nil {
			err = s.learnPendingClients(ctx, list)
		}
		if err != nil {
			s.log.Warn("announce: learn the broker's pending clients", "err", err)
		} else {
			s.ann.clientsListed.Store(true)
		}
	}
	expired, err := s.takeExpiredPendingClients(ctx, s.now())
	if err != nil {
		s.log.Warn("announce: expired pending clients", "err", err)
	}
	if len(expired) > 0 {
		s.log.Info("announce: expired pending clients deleted from the broker", "count", len(expired))
		s.dropPendingClients(expired...)
	}
}
