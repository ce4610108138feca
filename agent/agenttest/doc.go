// Package agenttest holds fixtures for the agent's tests and for tests of
// the programs built on it: a throwaway certificate authority, stand-ins for
// the server's enrollment and bootstrap endpoints, a double of the server's
// side of announce-and-approve (wired to the real broker by the test), a
// wrapper around the real restic that records each call (to prove a job
// ran once or never), restic repositories whose key is cheap to derive
// (restic init's calibrated scrypt costs every restic command ~0.5 s of
// CPU), and the switch that turns "skipped because a tool is
// missing" into a failure in CI.
//
// It is imported only by tests. It must not import the agent package (the
// agent's own tests import it) nor server/, broker/ or web/; the wire
// contract in topics/ is what its doubles are written against.
package agenttest
