// Package servertest holds fixtures for tests of the server package and of the
// packages built on it (web, cmd/restic-manager): a Service on a real SQLite
// file, users with a known password, a publisher standing in for the broker,
// and agents (announcing or enrolled) that talk to the Service as the broker
// would deliver their messages.
//
// It exists so that the testing package never links into a binary: server
// itself must not import testing, and only _test.go files import this
// package. It uses server's exported API only.
package servertest
