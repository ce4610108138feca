// Package brokertest holds fixtures for tests of the broker and of the
// programs that connect to it: StaticAuth, an in-memory Authenticator that
// really checks passwords, for a real broker started on 127.0.0.1:0.
//
// It exists so that no test code ships in a binary: the broker package
// must not hold test fixtures, and only _test.go files import this one. It
// uses broker's exported API only; broker's own tests that use it are the
// external package broker_test (internals they check are exported to them
// by broker/export_test.go).
package brokertest
