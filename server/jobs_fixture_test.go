package server

import (
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// jobsFixture is a running service with one enrolled host, its agent, a
// recording publisher, a settable clock and one user of each role.
type jobsFixture struct {
	s                       *Service
	pub                     *TestPublisher
	clock                   *TestClock
	host                    string
	agent                   *TestHostAgent
	admin, operator, viewer Actor
}

const testRepoPassword = "correct-horse-repo-password"

func newJobsFixture(t *testing.T) *jobsFixture {
	t.Helper()
	clock := NewTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s := MustOpenService(t, Options{Now: clock.Now, Ingest: IngestOptions{BatchWait: time.Millisecond}})
	pub := &TestPublisher{}
	s.SetPublisher(pub)
	RunInBackground(t, s)
	host := enrollTestHost(t, s, "web-1")
	return &jobsFixture{s: s, pub: pub, clock: clock, host: host, agent: NewTestHostAgent(s, host),
		admin:    ActorFor(MustCreateUser(t, s, "ada", RoleAdmin), "web"),
		operator: ActorFor(MustCreateUser(t, s, "otto", RoleOperator), "web"),
		viewer:   ActorFor(MustCreateUser(t, s, "vic", RoleViewer), "web")}
}

// setRepo sets a local repository for the fixture's host and returns the
// init job.
func (f *jobsFixture) setRepo(t *testing.T) *Job {
	t.Helper()
	j, err := f.s.SetRepository(t.Context(), f.admin, f.host, RepositoryInput{URL: "/srv/restic", Password: testRepoPassword})
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

func (f *jobsFixture) job(t *testing.T, id int64) *Job {
	t.Helper()
	j, err := f.s.GetJob(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (f *jobsFixture) backup(t *testing.T) *Job {
	t.Helper()
	j, err := f.s.CreateJob(t.Context(), f.operator, f.host, JobRequest{Spec: topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"/etc"}}})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (f *jobsFixture) countJobs(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.s.db.Get(&n, `SELECT COUNT(*) FROM jobs`); err != nil {
		t.Fatal(err)
	}
	return n
}

// rejectedBy is the count of rejections for one reason.
func rejectedBy(s *Service, why string) uint64 { return s.Stats().RejectedBy()[why] }

func intp(n int) *int { return &n }
