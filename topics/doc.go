// Package topics is the wire contract between the restic-manager server and its
// agents: the MQTT topic tree (rm/v1/...), the JSON envelope every message carries,
// the payload types, the protocol version and the validation rules for all of them;
// and the two HTTP bodies an agent exchanges before it has a config (enrollment and
// the announce bootstrap, enroll.go), with the SHA256: fingerprint that pins the
// server's CA (fingerprint.go). A type that crosses the wire is declared here once.
//
// It imports only the standard library so that the server, the broker and the
// agent (three programs that must never import each other) can all depend on it.
// It must not grow behaviour beyond encoding, decoding and validating: no I/O, no
// clocks other than the ones a caller passes in, no global state.
//
// Everything decoded here comes from the network and is untrusted: every decoder
// has a fuzz test, unknown fields are ignored, and anything that fails validation
// is returned as an error (never a panic) so the caller can log and count it.
package topics
