package server_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// TestWritesGetTheWriterInTheOrderTheyAsked: on SQLite, writes that wait
// for the writer get it first come first served (database/sql alone hands
// it to a random waiter, so a POST could lose the draw many times over).
// Eight job POSTs wait, one after the other, while a transaction holds the
// writer; their jobs are numbered in the order they asked. (PostgreSQL
// has no such gate: its pool is not the one writer.)
func TestWritesGetTheWriterInTheOrderTheyAsked(t *testing.T) {
	s := servertest.MustOpenSQLiteService(t, server.Options{})
	s.SetPublisher(&servertest.Publisher{})
	servertest.RunInBackground(t, s)
	host := enrollTestHost(t, s, "web-1")
	if _, err := s.SetRepository(t.Context(), server.CLIActor(), host, server.RepositoryInput{URL: "/srv/restic", Password: testRepoPassword}); err != nil {
		t.Fatal(err)
	}
	operator := servertest.ActorFor(servertest.MustCreateUser(t, s, "otto", server.RoleOperator), "web")
	tx := s.DB().MustBegin()
	const n = 8
	ids := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			j, err := s.CreateJob(t.Context(), operator, host, server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"/etc"}}})
			if err != nil {
				t.Errorf("POST %d: %v", i, err)
				return
			}
			ids[i] = j.ID
		})
		waitFor(t, fmt.Sprintf("write %d to wait for the writer", i+1), func() bool { return s.WritesWaiting() == i+1 })
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if ids[i] < ids[i-1] {
			t.Errorf("the writes got the writer out of turn: jobs %v, numbered in the order the writes asked", ids)
			break
		}
	}
}
