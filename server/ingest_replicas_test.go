package server_test

import (
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// Replicas on an external broker split each message's handling: a hello
// from the share group resends what the host missed and leaves presence
// alone; the same hello observed brings the host online in the replica's
// memory and resends nothing (the other replicas see it too). A topic that
// has no part on a subscription is refused there, and a reply nobody here
// waits for is another replica's, not a rejection.
func TestSharedAndObservedHandlingSplitAMessage(t *testing.T) {
	f := newJobsFixture(t)
	initJob := f.setRepo(t) // queued while the host is offline: nothing sent yet
	if cmds := f.agent.Commands(t, f.pub); len(cmds) != 0 {
		t.Fatalf("commands before any hello: %+v", cmds)
	}
	hello, err := topics.Encode(&topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, f.host), AgentVersion: "1",
		OS: "linux", Arch: "amd64", BootID: "b", ConnGen: 1})
	if err != nil {
		t.Fatal(err)
	}
	sync := func() {
		if err := f.s.SyncHellos(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	runCommands := func() int {
		n := 0
		for _, c := range f.agent.Commands(t, f.pub) {
			if c.Job == initJob.UID && c.Action == topics.CmdRun {
				n++
			}
		}
		return n
	}
	online := func() bool {
		h, err := f.s.GetHost(t.Context(), f.host)
		if err != nil {
			t.Fatal(err)
		}
		return h.Online
	}

	f.s.HandleShared(topics.HelloTopic(f.host), hello, f.host)
	sync()
	if n := runCommands(); n != 1 {
		t.Fatalf("the shared hello sent the queued job's run command %d times, want once", n)
	}
	if online() {
		t.Fatal("the shared hello changed this replica's presence: that is Observe's part")
	}
	f.s.Observe(topics.HelloTopic(f.host), hello, f.host)
	sync()
	if !online() {
		t.Fatal("the observed hello did not bring the host online")
	}
	if n := runCommands(); n != 1 {
		t.Fatalf("the observed hello resent the run command (%d in all): every replica would", n)
	}

	rejected := func(why string) uint64 { return f.s.Stats().RejectedBy()[why] }
	const elsewhere = "topic not expected on this subscription"
	progress, _ := topics.Encode(&topics.JobProgress{Envelope: topics.NewEnvelope(topics.TypeJobProgress, f.host), Job: initJob.UID})
	f.s.HandleShared(topics.JobProgressTopic(f.host, initJob.UID), progress, f.host)
	event, _ := topics.Encode(&topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, f.host), Seq: 1, Job: initJob.UID,
		Version: 2, State: topics.JobDelivered})
	f.s.Observe(topics.JobEventTopic(f.host, initJob.UID), event, f.host)
	if n := rejected(elsewhere); n != 2 {
		t.Fatalf("%d messages refused on the wrong subscription, want 2 (progress shared, a job event observed)", n)
	}
	f.agent.Sync(t)
	if j := f.job(t, initJob.ID); j.Status != topics.JobQueued {
		t.Fatalf("an observed job event was stored (the job is %s): every replica would", j.Status)
	}

	reply, _ := topics.Encode(&topics.Reply{Envelope: topics.NewEnvelope(topics.TypeReply, f.host), Request: topics.NewMessageID(),
		Op: topics.QueryLs, Error: "no", ErrorKind: topics.ReplyErrFailed})
	const unknown = "reply to an unknown or finished request"
	f.s.Observe(topics.ReplyTopic(f.host), reply, f.host)
	if n := rejected(unknown); n != 0 {
		t.Fatal("an observed reply to another replica's query was refused")
	}
	f.s.HandleMessage(topics.ReplyTopic(f.host), reply, f.host, 1)
	if n := rejected(unknown); n != 1 {
		t.Fatal("a lone server did not refuse a reply to no query of its own")
	}
}
