// Package mosquitto connects the server to an external MQTT broker, Eclipse
// Mosquitto 2 with its dynamic-security plugin, instead of the embedded one
// (serve --broker mqtt(s)://...). It is the same seam as package broker for
// the wiring in cmd/restic-manager: publish down messages, deliver up
// messages with the client they came from, and cut a client off; plus the
// provisioning the embedded broker does not need, because Mosquitto checks
// credentials and the ACL itself.
//
// What it does:
//   - connects as one admin client (credentials from the wiring, never
//     logged), reconnects on its own and subscribes again;
//   - consumes agent traffic through shared subscriptions
//     ($share/<group>/rm/v1/hosts/+/up/#, $share/<group>/rm/v1/announce/+/req),
//     so several server replicas in one group split it, each message going
//     to one of them; and, on a connection of its own, plain subscriptions
//     to what every replica must see (Observe: presence, live progress,
//     query replies, #15);
//   - names the client a message came from by its topic (the host or
//     pending ID in it). Mosquitto does not tell a subscriber who published;
//     the per-client ACL it enforces is what makes the topic trustworthy: a
//     host may publish only under its own rm/v1/hosts/{h}/up/ (acl.go);
//   - provisions identities through the plugin's control API
//     ($CONTROL/dynamic-security/v1, dynsec.go): per host a client and a
//     role holding exactly the host row of DESIGN §3, per monitor account a
//     client with the shared monitor role, per announcing machine a
//     short-lived pending client with its own role holding the pending row
//     (pending.go); revocation deletes the client and its role, which makes
//     Mosquitto close its connection.
//
// What it must not do:
//   - import the server or the embedded broker;
//   - log passwords or payloads;
//   - give any identity more than the embedded broker's ACL (broker/acl.go)
//     allows it.
package mosquitto
