// Package broker is restic-manager's embedded MQTT broker: Mochi MQTT with our
// own listeners and hooks. It is the transport between the server and the
// agents, nothing more.
//
// What it does:
//   - authenticates every CONNECT through an Authenticator the server
//     provides; the MQTT username must equal the client ID and be a host
//     (h_), monitor (mon_) or pending (p_) ID (hook_auth.go). A client's
//     own fault gets CONNACK "bad username or password" (3.1.1: "not
//     authorized") and counts against its address; an Authenticator error
//     (the server failing) gets "server unavailable" (0x88, 3.1.1: 0x03)
//     and never counts, so agents retry it soon;
//   - bounds pending clients, which have no secret: their session ends with
//     the connection, they must ask for a keepalive, and only so many may be
//     connected per address and in all (pending.go);
//   - enforces the ACL of DESIGN §3 exactly, on subscriptions, deliveries,
//     publishes and the Will topic (acl.go, hook_acl.go). A denied publish is
//     acknowledged and dropped, never answered with a disconnect, so a 3.1.1
//     client does not reconnect and resend forever. Subscriptions are an
//     exact allow-list per role, and filters are checked for length, depth,
//     count per packet and per client before mochi builds anything for them
//     (hook_subscribe.go); a refused filter gets a SUBACK failure code, not
//     a disconnect;
//   - hardens the network side (listener.go): a maximum packet size, a
//     deadline for CONNECT, per-address limits on connection attempts and
//     failed logins, and recover() around every client so a malformed packet
//     cannot crash the process (recover.go);
//   - admits only so many connections into their TLS handshake and
//     CONNECT at once, the rest waiting in line unread, so a burst of
//     agents queues instead of timing out and retrying (admission.go);
//   - keeps TLS session-ticket keys derived from the serving key, so
//     agents resume their sessions also after a restart (tls_tickets.go);
//   - at Close (its server stopping) ends every connection without
//     publishing its Will: the server, the Wills' only reader, hears every
//     disconnect anyway (listener.go closeConn);
//   - keeps a disconnected host's persistent session and its queued QoS 1
//     messages for Config.SessionExpiry (8 days by default);
//   - sends a monitor the retained messages its SUBSCRIBE asks for itself,
//     one at a time at the pace of its connection, instead of mochi's
//     burst into the client's write queue, which dropped what did not fit
//     (monitor_replay.go); a live update during that replay is never
//     followed by an older retained copy;
//   - gives the server an inline Publish / Subscribe and a Disconnect for
//     revocation (inline.go), and reports connects and disconnects with a
//     connection serial so the server can ignore a stale disconnect or Will
//     after a session takeover (hook_presence.go, hook_origin.go).
//
// What it must not do:
//   - import the server package, or know about hosts, jobs or the database:
//     it takes an Authenticator and callbacks;
//   - persist anything, or be relied on to keep messages: the server's
//     database is the source of truth (DESIGN §1), and a PUBACK from the
//     broker is not proof that the server stored anything;
//   - allow a client anything the ACL does not name. There is no allow-all
//     hook, not even in tests (brokertest.StaticAuth checks passwords);
//   - log passwords or payloads. Mochi's own lines are filtered to Warn and
//     above and have packets redacted (mochilog.go);
//   - retain client messages: only the server's own publishes are retained,
//     and never on an agent's topics, whose subscriptions skip mochi's
//     retained look-up (hook_subscribe.go retainNotSent);
//   - hold test code: fixtures for tests live in broker/brokertest, which
//     imports this package, so the tests that use it are the external
//     package broker_test; what they check inside is exported to them by
//     export_test.go (compiled only into the tests).
package broker
