// Package agenttest holds fixtures for the agent's tests and for tests of
// the programs built on it: a throwaway certificate authority, a stand-in for
// the server's enrollment endpoint, and the switch that turns "skipped
// because a tool is missing" into a failure in CI.
//
// It is imported only by tests. It must not import the agent package (the
// agent's own tests import it) nor server/, broker/ or web/.
package agenttest
