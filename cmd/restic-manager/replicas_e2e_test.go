package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// TestReplicasShareEvents: with two replicas on one PostgreSQL and one
// Mosquitto, a browser's stream on replica 1 shows a job created through
// replica 0's API, dispatched to the host through the broker, and its
// completion, whichever replica ingested the host's events; the result is
// stored and acknowledged.
func TestReplicasShareEvents(t *testing.T) {
	t.Parallel()
	rs := startReplicas(t, 2)
	h := rs.enrollHost("web-1")
	h.hello()
	jobs := rs.openEvents(1, "/events?jobs=1")

	// Setting the repository through replica 0 queues its init job.
	if code := rs.api(0).do("PUT", "/api/v1/hosts/"+h.id+"/repository",
		map[string]any{"url": filepath.Join(t.TempDir(), "repo"), "password": "pw"}, nil); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("set repository through replica 0: HTTP %d", code)
	}
	var list struct {
		Jobs []jobJSON `json:"jobs"`
	}
	waitFor(t, "the init job in replica 1's API", 10*time.Second, func() bool {
		return rs.api(1).do("GET", "/api/v1/jobs?host="+h.id, nil, &list) == http.StatusOK && len(list.Jobs) == 1
	})
	job := list.Jobs[0]
	waitFor(t, "replica 1's stream to hear of the new job", 10*time.Second, func() bool { return jobs.has("jobs-changed") })

	cmd := h.command(job.UID, 20*time.Second)
	for v, st := range []topics.JobState{topics.JobDelivered, topics.JobRunning} {
		h.jobEvent(job.UID, cmd.Version+int64(v)+1, st)
	}
	h.reportUntilAcked(job.UID, cmd.Version+3, topics.JobSucceeded, 2*time.Second, 30*time.Second)
	row := fmt.Sprintf("job-%d", job.ID)
	waitFor(t, "replica 1's stream to show the job succeeded", 10*time.Second, func() bool { return jobs.has(row, "ucceeded") })
	var j jobJSON
	if rs.api(1).do("GET", fmt.Sprintf("/api/v1/jobs/%d", job.ID), nil, &j) != http.StatusOK || j.Status != "succeeded" {
		t.Fatalf("job through replica 1: %+v\nstream:\n%s", j, jobs)
	}
}
