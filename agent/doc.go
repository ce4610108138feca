// Package agent is the restic-manager agent: the program that runs on every
// backed-up machine, keeps an MQTT connection to the server's embedded
// broker, and (in later issues) runs restic jobs from a durable journal and
// reports them through a durable outbox.
//
// What is here now:
//
//   - Config: the YAML file `enroll` writes and `run` reads (config.go), with
//     atomic 0600 writes and a redacted String.
//   - Enroll: the token exchange over HTTPS, with the server's CA pinned by
//     fingerprint (enroll.go, enroll_tls.go, enroll_response.go).
//   - Agent: the connection loop (agent.go, session.go, dial.go): one fresh
//     paho client per attempt, exponential backoff with jitter, a connection
//     generation persisted in state_dir (conngen.go) that goes into the Last
//     Will and into hello, heartbeats, and the receiving side of down/#
//     (inbound.go), which for now validates and logs.
//   - Announce: enrollment without a token (DESIGN §4.2). The bootstrap
//     request for the broker and its CA, pinned like enroll (bootstrap.go,
//     with what enroll and announce share in server_api.go); the Ed25519
//     identity and X25519 seal keys kept in state_dir (announce_keys.go);
//     the pending MQTT client that announces, proves its key, prints the
//     banner and waits (announce.go, announce_session.go); and turning
//     the sealed approval into the config (announce_approval.go).
//   - The OS service wrapper (service.go) and restic version detection
//     (restic_version.go).
//
// Wire behaviour, per connection: CONNECT (client ID = username = host ID,
// clean session off, keepalive 30 s, Will = non-retained QoS 1
// status "offline" with this connection's conn_gen) → SUBSCRIBE
// rm/v1/hosts/{h}/down/# QoS 1 → hello QoS 1 (waits for PUBACK) → status
// "online" QoS 0 at once and every heartbeat_interval. On shutdown a clean
// DISCONNECT, so the broker drops the Will.
//
// While announcing: CONNECT (client ID = username = topics.PendingID of the
// identity key, password PendingPassword, clean session off, no Will) →
// SUBSCRIBE rm/v1/announce/{c}/resp QoS 1 → AnnounceHello QoS 1 on .../req
// → AnnounceProof for the first challenge after each hello → "pending"
// (banner, once) → "approved" (config written, clean DISCONNECT, then the
// host connection above) or "rejected" (Announce fails). Hello is repeated
// every 15 minutes while waiting, after 30 s without an answer (on a new
// connection), and on every reconnect.
//
// What it must not do: import server/, broker/ or web/ (only the wire
// contract in topics/ is shared; tests may start the real broker); log or pass
// on secrets (the MQTT password, the enrollment token, later repository
// passwords), which reach restic only through its environment, never argv.
package agent
