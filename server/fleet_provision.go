package server

import (
	"fmt"
	"time"
)

// Provisioner gives an MQTT identity its credentials and ACL on a broker that
// keeps its own accounts (an external Mosquitto with its dynamic-security
// plugin). The embedded broker needs none: it asks AuthenticateMQTT on every
// CONNECT, and does not implement it. The domain finds the provisioner in
// the Disconnecter (SetDisconnecter).
//
// The store keeps only a digest of each secret, so the broker can be told a
// secret only where the server makes it: when a host is created (token
// enrollment, announce-and-approve), when an accepted machine's secret is
// replaced, and when a monitor account is created. Each call is made inside
// the transaction that stores the secret's digest, so a refused provisioning
// stores nothing and the caller is told the server failed. A pending
// client's password is the agent's own, named in its bootstrap request
// (fleet_announce_bootstrap.go); the server stores nothing of it.
//
// Revocation goes through Disconnecter: a broker with its own accounts
// deletes the account there, which also closes its connection.
type Provisioner interface {
	// ProvisionHost makes hostID able to connect with secret and gives it
	// the host row of the ACL; called again for the same host, it replaces
	// the secret.
	ProvisionHost(hostID, secret string) error
	// ProvisionMonitor makes the monitor account username able to connect
	// with password and read the monitor feed.
	ProvisionMonitor(username, password string) error
	// ProvisionPending makes the pending client clientID able to connect
	// with password until expires (after which the server deletes it),
	// with the pending row of the ACL: its own announce topics only.
	// Called again, it replaces the password and the expiry.
	ProvisionPending(clientID, password string, expires time.Time) error
	// PendingClients lists the pending clients the broker has, with the
	// expiry each was given (the zero time when unknown).
	PendingClients() (map[string]time.Time, error)
}

// provisioner is the broker when it keeps its own accounts: the one that
// cuts clients off (SetDisconnecter) is the one that lets them in, so a
// Disconnecter that also implements Provisioner is both, and the wiring has
// one thing to set.
func (s *Service) provisioner() Provisioner {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	p, _ := s.disconnecter.(Provisioner)
	return p
}

// provisionHost tells the broker a host's new secret, if it keeps accounts.
func (s *Service) provisionHost(hostID, secret string) error {
	return s.provision("host "+hostID, func(p Provisioner) error { return p.ProvisionHost(hostID, secret) })
}

// provisionMonitor tells the broker a monitor account, if it keeps accounts.
func (s *Service) provisionMonitor(username, password string) error {
	return s.provision("monitor "+username, func(p Provisioner) error { return p.ProvisionMonitor(username, password) })
}

func (s *Service) provision(what string, call func(Provisioner) error) error {
	p := s.provisioner()
	if p == nil {
		return nil
	}
	if err := call(p); err != nil {
		return fmt.Errorf("broker: provision %s: %w", what, err)
	}
	return nil
}
