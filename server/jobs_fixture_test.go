package server_test

import (
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// jobsFixture is a running service with one enrolled host, its agent, a
// recording publisher, a settable clock and one user of each role.
type jobsFixture struct {
	s                       *server.Service
	pub                     *servertest.Publisher
	clock                   *servertest.Clock
	host                    string
	agent                   *servertest.HostAgent
	admin, operator, viewer server.Actor
}

const testRepoPassword = "correct-horse-repo-password"

func newJobsFixture(t *testing.T) *jobsFixture {
	t.Helper()
	return newJobsFixtureIngest(t, server.IngestOptions{BatchWait: time.Millisecond})
}

// newJobsFixtureIngest is newJobsFixture with the ingest writer's options.
func newJobsFixtureIngest(t *testing.T, ingest server.IngestOptions) *jobsFixture {
	t.Helper()
	clock := servertest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s := servertest.MustOpenService(t, server.Options{Now: clock.Now, Ingest: ingest})
	pub := &servertest.Publisher{}
	s.SetPublisher(pub)
	servertest.RunInBackground(t, s)
	host := enrollTestHost(t, s, "web-1")
	return &jobsFixture{s: s, pub: pub, clock: clock, host: host, agent: servertest.NewHostAgent(s, host),
		admin:    servertest.ActorFor(servertest.MustCreateUser(t, s, "ada", server.RoleAdmin), "web"),
		operator: servertest.ActorFor(servertest.MustCreateUser(t, s, "otto", server.RoleOperator), "web"),
		viewer:   servertest.ActorFor(servertest.MustCreateUser(t, s, "vic", server.RoleViewer), "web")}
}

// setRepo sets a local repository for the fixture's host and returns the
// init job.
func (f *jobsFixture) setRepo(t *testing.T) *server.Job {
	t.Helper()
	j, err := f.s.SetRepository(t.Context(), f.admin, f.host, server.RepositoryInput{URL: "/srv/restic", Password: testRepoPassword})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// ready sets the repository and walks its init job to succeeded, with the
// agent online.
func (f *jobsFixture) ready(t *testing.T) {
	t.Helper()
	j := f.setRepo(t)
	f.agent.Connect(t, 1)
	f.finish(t, j.UID, topics.JobSucceeded, &topics.JobResult{AlreadyInitialized: true})
}

// finish walks a queued job through delivered and running to state.
func (f *jobsFixture) finish(t *testing.T, uid string, state topics.JobState, res *topics.JobResult) {
	t.Helper()
	f.agent.Event(t, uid, 2, topics.JobDelivered, nil)
	f.agent.Event(t, uid, 3, topics.JobRunning, nil)
	f.agent.Event(t, uid, 4, state, res)
	f.agent.Sync(t)
}

func (f *jobsFixture) job(t *testing.T, id int64) *server.Job {
	t.Helper()
	j, err := f.s.GetJob(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (f *jobsFixture) backup(t *testing.T) *server.Job {
	t.Helper()
	j, err := f.s.CreateJob(t.Context(), f.operator, f.host, server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"/etc"}}})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (f *jobsFixture) countJobs(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.s.DB().Get(&n, `SELECT COUNT(*) FROM jobs`); err != nil {
		t.Fatal(err)
	}
	return n
}

// rejectedBy is the count of rejections for one reason.
func rejectedBy(s *server.Service, why string) uint64 { return s.Stats().RejectedBy()[why] }

func intp(n int) *int { return &n }
