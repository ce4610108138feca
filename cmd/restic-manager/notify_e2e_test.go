package main

import (
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/server"
)

// webhookReceiver is a real HTTP server on 127.0.0.1 that keeps every
// notification it gets, with its signature header.
type webhookReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []webhookCall
}

type webhookCall struct {
	signature string
	body      []byte
	payload   server.NotificationPayload
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	t.Helper()
	r := &webhookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		c := webhookCall{signature: req.Header.Get(server.SignatureHeader), body: b}
		_ = json.Unmarshal(b, &c.payload)
		r.mu.Lock()
		r.got = append(r.got, c)
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// find returns the first call that match accepts, or nil.
func (r *webhookReceiver) find(match func(server.NotificationPayload) bool) *webhookCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.got {
		if match(r.got[i].payload) {
			c := r.got[i]
			return &c
		}
	}
	return nil
}

// TestNotifyFailedBackupReachesWebhook: a backup the real agent runs with
// the real restic fails (the repository's password is wrong); within
// seconds a webhook on loopback gets job.failed with the host, the job,
// its error and a link to the job page, signed with the channel's secret.
func TestNotifyFailedBackupReachesWebhook(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "notify-pc")
	rcv := newWebhookReceiver(t)
	const secret = "e2e-signing-secret"
	var ch server.NotificationChannel
	if code := e.api().do("POST", "/api/v1/notification-channels", map[string]any{"name": "ops", "kind": "webhook",
		"url": rcv.srv.URL + "/hook", "secret": secret, "events": []string{"job.failed"}}, &ch); code != http.StatusCreated {
		t.Fatalf("create channel: HTTP %d", code)
	}
	repo := filepath.Join(e.dir, "repo")
	agenttest.InitRepository(t, repo, "the right one")
	e.startAgent()
	e.setRepository(repo, "not the right one")
	id := e.runJob(map[string]any{"kind": "backup", "paths": []string{e.dir}})
	j := e.waitJob(id, 60*time.Second)
	if j.Status != "failed" {
		t.Fatalf("backup: %+v", j)
	}
	var call *webhookCall
	waitFor(t, "job.failed of the backup at the webhook", 10*time.Second, func() bool {
		call = rcv.find(func(p server.NotificationPayload) bool { return p.Job != nil && p.Job.ID == id })
		return call != nil
	})
	p := call.payload
	if p.Event != "job.failed" || p.Host == nil || p.Host.ID != e.hostID || p.Host.Name != "notify-pc" ||
		p.Job.Kind != "backup" || p.Job.Status != "failed" || p.Job.Error == "" ||
		p.Link != fmt.Sprintf("%s/jobs/%d", e.m.HTTPURL(), id) {
		t.Fatalf("payload %+v job %+v", p, p.Job)
	}
	if want := server.SignBody([]byte(secret), call.body); !hmac.Equal([]byte(call.signature), []byte(want)) {
		t.Fatalf("signature %q, want %q", call.signature, want)
	}
}
