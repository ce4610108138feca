package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// TestAnnounceAfterFloodEndToEnd is the attack that filled the announce
// queue (#9): 120 announces from 12 addresses against the default cap of
// 100, then a real machine. Before, the real agent was refused ("too many
// machines are waiting") for 24 hours; now the queue makes room and the
// real agent, announcing over HTTPS and MQTTS from its own address, is
// listed. The flood goes through the server's announce handler (the test
// reads its challenges in place of the broker), the real machine through
// the real agent binary and broker.
func TestAnnounceAfterFloodEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	m := startServer(t, data, "127.0.0.1:0")
	api := apiClient{t: t, base: m.HTTPURL(), token: cli(t, "", "apitoken", "create", "--user", "admin", "--data", data)}
	svc := m.Service()

	pub := &servertest.Publisher{}
	svc.SetPublisher(pub)
	for i := range 120 {
		a := servertest.NewPendingAgent(t, fmt.Sprintf("flood-%d", i))
		if st := a.Announce(t, svc, pub, uint64(1_000_000+i), fmt.Sprintf("203.0.113.%d:5000", 10+i%12)); st == nil || st.State != topics.AnnouncePending {
			t.Fatalf("flood announce %d: %+v", i, st)
		}
	}
	svc.SetPublisher(m.Broker())

	var queue struct {
		Pending []pendingJSON `json:"pending_hosts"`
		Queue   struct {
			Full    bool `json:"full"`
			Evicted int  `json:"evicted"`
		} `json:"queue"`
	}
	api.do("GET", "/api/v1/pending-hosts", nil, &queue)
	if len(queue.Pending) != 100 || !queue.Queue.Full || queue.Queue.Evicted != 20 {
		t.Fatalf("after the flood: %d waiting, queue %+v", len(queue.Pending), queue.Queue)
	}

	p := startAgentArgs(t, "announce", "--server", m.HTTPSURL(), "--ca-fingerprint", m.TLS().Fingerprint,
		"--config", filepath.Join(dir, "real", "agent.yaml"), "--state-dir", filepath.Join(dir, "real", "state"))
	var printed string
	waitFor(t, "the real agent's banner", 20*time.Second, func() bool {
		if mm := bannerFingerprintRE.FindStringSubmatch(p.logs.String()); mm != nil {
			printed = mm[1]
			return true
		}
		return p.exited()
	})
	if printed == "" {
		t.Fatalf("the real agent exited without a banner:\n%s", p.logs)
	}
	var row *pendingJSON
	waitFor(t, "the real machine listed after the flood", 20*time.Second, func() bool {
		if p.exited() {
			t.Fatalf("the real agent gave up:\n%s", p.logs)
		}
		api.do("GET", "/api/v1/pending-hosts", nil, &queue)
		for i := range queue.Pending {
			if queue.Pending[i].Fingerprint == printed {
				row = &queue.Pending[i]
			}
		}
		return row != nil
	})
	if row.SourceAddr != "127.0.0.1" || len(queue.Pending) != 100 {
		t.Fatalf("real machine's row %+v, %d waiting", row, len(queue.Pending))
	}
}
