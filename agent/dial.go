package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/agent/tlssession"
)

// dialer returns paho's connection opener for one session of the agent.
func (a *Agent) dialer(ctx context.Context) mqtt.OpenConnectionFunc {
	return brokerDialer(ctx, a.ca, a.tlsSessions)
}

// newTLSSessionCache is the agent's TLS session cache: it keeps the
// session ticket the broker sends after each handshake, so the next
// connection — a reconnect, or the whole fleet coming back after a server
// restart (the broker's ticket keys survive it, broker/tls_tickets.go) —
// resumes the session instead of a full handshake: no certificate
// signature for the server, no chain verification here. The agent talks
// to one broker, so one entry would do; a few cover a broker URL change.
// It lives as long as the process: an agent restart starts with a full
// handshake. It keeps a session through a few failed handshakes
// (tlssession.Cache).
func newTLSSessionCache() tls.ClientSessionCache { return tlssession.NewCache(4) }

// brokerDialer returns paho's connection opener for one session, trusting ca
// for TLS. Dialing ourselves (instead of paho's own dialer) gives two things:
// the connection is bound to ctx, so cancelling it aborts a dial, a TLS
// handshake or a wait for CONNACK at once; and the TLS config trusts exactly
// the server's CA, not the system roots, so a public CA cannot vouch for a
// fake broker. Both the agent (CA from its config) and a pending announce
// (CA from the server's bootstrap answer) dial through it. sessions, when
// not nil, is where TLS sessions are kept to be resumed (the pending
// client, which connects once, keeps none).
func brokerDialer(ctx context.Context, ca *x509.Certificate, sessions tls.ClientSessionCache) mqtt.OpenConnectionFunc {
	return func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
		d := net.Dialer{Timeout: connectTimeout, KeepAlive: keepAlive}
		conn, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return nil, err
		}
		// Close the connection when the session ends, whatever paho does.
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		if !isTLSScheme(u.Scheme) {
			return conn, nil
		}
		cfg := brokerTLSConfig(ca, u.Hostname())
		cfg.ClientSessionCache = sessions
		tlsConn := tls.Client(conn, cfg)
		hsCtx, cancel := context.WithTimeout(ctx, connectTimeout)
		defer cancel()
		if err := tlsConn.HandshakeContext(hsCtx); err != nil {
			stop()
			conn.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", u.Host, err)
		}
		return tlsConn, nil
	}
}

// brokerTLSConfig trusts ca only, and checks the broker's certificate
// against the host name in the broker URL.
func brokerTLSConfig(ca *x509.Certificate, serverName string) *tls.Config {
	roots := x509.NewCertPool()
	if ca != nil {
		roots.AddCert(ca)
	}
	return &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}
}

// sessionOptions are the settings every connection of the agent shares, as a
// host or as a pending client: MQTT 3.1.1 with no silent fallback to 3.1, a
// persistent session (CleanSession off; a pending client turns it on, see
// pendingSession), our own reconnects (paho's are off),
// a fresh in-memory store per connection, our dialer, and a lost connection
// reported on lost. Callers add their Will and message handler.
func sessionOptions(broker *url.URL, clientID, password string, dial mqtt.OpenConnectionFunc, lost chan<- error) *mqtt.ClientOptions {
	return mqtt.NewClientOptions().
		AddBroker(broker.String()).
		SetClientID(clientID).
		SetUsername(clientID).
		SetPassword(password).
		SetProtocolVersion(4).
		SetCleanSession(false).
		SetKeepAlive(keepAlive).
		SetPingTimeout(pingTimeout).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(ackTimeout).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetStore(mqtt.NewMemoryStore()).
		SetCustomOpenConnectionFn(dial).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
}

// connectSession connects client; when ctx ends first it aborts the dial (or
// the wait for CONNACK) with cancelDial and returns ctx's error. The broker's
// own refusal comes back unwrapped for the caller to describe.
func connectSession(ctx context.Context, client mqtt.Client, cancelDial context.CancelFunc) (*mqtt.ConnectToken, error) {
	tok := client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		cancelDial()
		<-tok.Done()
		client.Disconnect(0)
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return tok.(*mqtt.ConnectToken), nil
}
