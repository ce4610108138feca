package server_test

import (
	"os"
	"testing"

	"github.com/restic-manager/restic-manager/server/servertest"
)

// TestMain stops the PostgreSQL cluster the tests started when
// RM_TEST_DB=postgres (servertest.PostgresURL).
func TestMain(m *testing.M) {
	code := m.Run()
	servertest.StopPostgres()
	os.Exit(code)
}
