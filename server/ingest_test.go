package server_test

import (
	"encoding/json"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

func TestHandleMessageRejectsForgeries(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{})
	a := enrollTestHost(t, s, "a-1")
	b := enrollTestHost(t, s, "b-1")
	s.Presence().Connected(a, 1, "x")
	s.Presence().Connected(b, 2, "y")

	helloFrom := func(host string) []byte {
		data, _ := json.Marshal(&topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, host), AgentVersion: "9.9",
			OS: "linux", Arch: "amd64", BootID: "x"})
		return data
	}
	// A publishes into B's topic (impossible through the ACL, but checked).
	s.HandleMessage(topics.HelloTopic(b), helloFrom(b), a, 1)
	// A's topic, but the envelope claims B.
	s.HandleMessage(topics.HelloTopic(a), helloFrom(b), a, 1)
	// Garbage and unknown topics.
	s.HandleMessage(topics.HelloTopic(a), []byte("{not json"), a, 1)
	s.HandleMessage("rm/v1/hosts/"+a+"/up/unknown", helloFrom(a), a, 1)
	if got := s.Stats().Rejected.Load(); got != 4 {
		t.Fatalf("rejected %d, want 4", got)
	}
	for _, id := range []string{a, b} {
		h, _ := s.GetHost(t.Context(), id)
		if h.AgentVersion == "9.9" {
			t.Fatalf("forged hello changed host %s", id)
		}
	}
	s.HandleMessage(topics.HelloTopic(a), helloFrom(a), a, 1)
	if h, _ := s.GetHost(t.Context(), a); h.AgentVersion != "9.9" || s.Stats().Accepted.Load() != 1 {
		t.Fatalf("genuine hello not applied: %+v", h)
	}
}
