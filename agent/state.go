package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/restic-manager/restic-manager/agent/outbox"
	"github.com/restic-manager/restic-manager/agent/restic"
)

// What the agent keeps in state_dir besides conn_gen and the announce keys.
const (
	outboxDir   = "outbox"              // the durable outbox (package outbox)
	journalFile = "journal"             // the command journal (package outbox)
	configFile  = "desired_config.json" // the applied desired config (0600: it holds the repository password)
	staleFile   = "stale_lock"          // present while a stale restic lock may exist
	// scheduleFile (schedules.json): the scheduler's last slot per schedule.
)

// jobState is what Run opens in state_dir and the goroutines that use it:
// the journal of commands, the outbox of messages to deliver, the applied
// desired config, the marker of a possibly stale restic lock, and the
// sender, the dispatcher queue and the job queue. It lives from the start
// of Run to its end.
type jobState struct {
	resticVersion string
	runner        *restic.Runner
	journal       *outbox.Journal
	outbox        *outbox.Outbox
	desired       *desiredConfig
	staleLock     *staleLock
	sender        *sender
	inbox         *downQueue
	jobs          *jobQueue
	sched         *scheduler

	// stopping is Run's context: once it is done no new job starts and
	// waits for outbox room give up.
	stopping context.Context
	// roomFreed is signalled whenever the server acknowledges entries, so
	// that an event waiting for room in a full outbox tries again.
	roomFreed chan struct{}
	// statusNow asks the session to publish a status at once (after a new
	// config is applied).
	statusNow chan struct{}
	// recovered is closed once the jobs a previous run left unfinished are
	// reported or queued again; commands are handled only after it.
	recovered chan struct{}
}

// openJobState opens the journal and the outbox, loads the applied config
// and prepares the workers. A damaged file that the outbox package cannot
// repair is an error that names the file to move away.
func (a *Agent) openJobState(ctx context.Context, resticVersion string) error {
	dir := a.cfg.StateDir
	opts := a.outboxOpts
	opts.Logger = a.log
	ob, err := outbox.Open(filepath.Join(dir, outboxDir), opts)
	if err != nil {
		return err
	}
	j, err := outbox.OpenJournal(filepath.Join(dir, journalFile), outbox.JournalOptions{Logger: a.log})
	if err != nil {
		ob.Close()
		return err
	}
	st := &jobState{
		resticVersion: resticVersion,
		runner: &restic.Runner{
			Binary: a.cfg.ResticBinary,
			Env:    append(childEnv(), a.resticEnv...),
			Logger: a.log,
		},
		journal:   j,
		outbox:    ob,
		desired:   loadDesiredConfig(filepath.Join(dir, configFile), a.cfg.HostID, a.log),
		staleLock: openStaleLock(filepath.Join(dir, staleFile), a.log),
		inbox:     newDownQueue(),
		stopping:  ctx,
		roomFreed: make(chan struct{}, 1),
		statusNow: make(chan struct{}, 1),
		recovered: make(chan struct{}),
	}
	st.sender = newSender(ob, a.log, a.resendAfter)
	a.jobState = st
	st.jobs = newJobQueue(a)
	st.sched = newScheduler(a, a.clock)
	return nil
}

// closeJobState closes the journal and the outbox; everything they
// accepted is on disk already.
func (a *Agent) closeJobState() {
	if a.jobState == nil {
		return
	}
	if err := errors.Join(a.outbox.Close(), a.journal.Close()); err != nil {
		a.log.Warn("closing the job state", "err", fmt.Sprint(err))
	}
}
