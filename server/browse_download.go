package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Downloads (#14): a file or folder of a snapshot, streamed from the agent
// through the server to a browser. The person's request registers a
// one-time upload token (random, bound to the host, snapshot, path and
// format, held in memory only, bounded in number), then asks the agent
// over MQTT (a dump query carrying the token). The agent answers what it
// found (topics.DumpStart: a file and its size, or a folder) and POSTs
// restic's output to the server with the token; AttachUpload hands that
// body to the waiting download, whose web handler copies it to the
// browser. Nothing is buffered whole and nothing touches SQLite but the
// audit row; the agent's TCP connection is the flow control (a slow
// browser slows the agent). docs/DECISIONS.md says why this channel.
// With several replicas the upload may reach another one: it is relayed
// through the store (browse_download_relay.go).

// Bounds of the downloads in progress.
const (
	// MaxDownloadsPerHost is how many downloads one host may serve at
	// once (each runs a restic on it).
	MaxDownloadsPerHost = 4
	// MaxDownloadsInAll is how many downloads may be in progress at once,
	// waiting for their upload or streaming.
	MaxDownloadsInAll = 64
	// DownloadStartTimeout is how long a download waits for the agent's
	// upload to arrive once the agent said it starts it; the token dies
	// with it.
	DownloadStartTimeout = time.Minute
)

// DownloadRequest is what a person asks to download.
type DownloadRequest struct {
	HostID   string
	Snapshot string // a snapshot id (8 to 64 hex digits) or "latest"
	Path     string // absolute, in the snapshot
	Format   topics.DumpFormat
}

// Download is one download in progress. StartDownload makes it; the
// caller then takes the upload's Body and must call Finish once, whatever
// happened.
type Download struct {
	Request  DownloadRequest
	HostName string
	// Start is what the agent found at the path: a file and its size, or
	// a folder and the archive it comes in.
	Start topics.DumpStart

	actor    Actor
	reg      *downloadRegistry
	ended    func(d *Download, bytes int64, err error) // audits it (Service.auditDownload)
	token    string
	attached chan struct{}  // closed when the upload arrives
	relay    *downloadRelay // its row in the store (PostgreSQL), or nil

	mu     sync.Mutex
	state  downloadState
	upload *upload
	once   sync.Once
}

type downloadState int

const (
	downloadWaiting  downloadState = iota // the token waits for its upload
	downloadAttached                      // the upload arrived; the token is spent
	downloadGone                          // ended before its upload came
)

// upload is an agent's request body attached to a download.
type upload struct {
	body io.Reader
	done chan error // buffered 1: how the download ended
}

// downloadRegistry holds the downloads in progress and the tokens waiting
// for their upload. The zero value is ready, with the package's bounds.
type downloadRegistry struct {
	mu      sync.Mutex
	byToken map[string]*Download // waiting for their upload
	perHost map[string]int       // in progress (waiting or streaming)
	total   int
	// Bounds; zero means the package's constant (tests make them small).
	maxPerHost, maxInAll int
	startTimeout         time.Duration
}

// add registers a download of hostID with a new token, or says why no
// more may start now.
func (r *downloadRegistry) add(d *Download) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byToken == nil {
		r.byToken, r.perHost = make(map[string]*Download), make(map[string]int)
	}
	host := d.Request.HostID
	switch {
	case r.perHost[host] >= orDefault(r.maxPerHost, MaxDownloadsPerHost):
		return &Error{Code: CodeUnavailable, RetryAfter: 10 * time.Second,
			Message: fmt.Sprintf("This host is already sending %d downloads; wait for one to finish, then try again.", orDefault(r.maxPerHost, MaxDownloadsPerHost))}
	case r.total >= orDefault(r.maxInAll, MaxDownloadsInAll):
		return &Error{Code: CodeUnavailable, RetryAfter: 10 * time.Second,
			Message: "The server is streaming too many downloads; try again in a minute."}
	}
	d.reg, d.token, d.attached = r, randomToken(topics.DumpTokenPrefix), make(chan struct{})
	r.byToken[d.token] = d
	r.perHost[host]++
	r.total++
	return nil
}

// attach hands an upload to the download waiting for token, if hostID is
// the host it was issued to. A token is spent by its first upload; a
// wrong host does not spend it.
func (r *downloadRegistry) attach(hostID, token string, up *upload) (*Download, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.byToken[token]
	if !ok {
		return nil, notFoundf("This upload token is unknown, used or expired; the download it was for has ended.")
	}
	if d.Request.HostID != hostID {
		return nil, &Error{Code: CodeForbidden, Message: "This upload token was issued to another host."}
	}
	delete(r.byToken, token)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != downloadWaiting { // cannot happen: a token leaves byToken with its state
		return nil, notFoundf("This upload token is unknown, used or expired; the download it was for has ended.")
	}
	d.state, d.upload = downloadAttached, up
	close(d.attached)
	return d, nil
}

// giveUp ends a download still waiting for its upload: its token is
// dropped, and an upload arriving later is refused. It reports whether the
// upload had arrived already (then nothing changes). Locks are taken in
// attach's order: the registry's, then the download's.
func (r *downloadRegistry) giveUp(d *Download) (attached bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state == downloadAttached {
		return true
	}
	d.state = downloadGone
	if r.byToken[d.token] == d {
		delete(r.byToken, d.token)
	}
	return false
}

// release counts a download out.
func (r *downloadRegistry) release(d *Download) {
	r.mu.Lock()
	defer r.mu.Unlock()
	host := d.Request.HostID
	if r.perHost[host]--; r.perHost[host] <= 0 {
		delete(r.perHost, host)
	}
	r.total--
}

// waiting is how many tokens wait for their upload (tests).
func (r *downloadRegistry) waiting() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byToken)
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// StartDownload checks that actor may download (PermRunJobs: file
// contents are more than the dashboard shows) what r asks, registers a
// one-time upload token for it and asks the host's agent to dump and
// upload. It returns once the agent said what it found (Download.Start),
// before any byte: an offline host is CodeHostOffline at once, a path the
// snapshot lacks CodeNotFound, a host whose restic cannot do it
// CodeAgentFailed with the agent's sentence. Every download that reaches
// the host is audited by Finish, the failed ones too.
func (s *Service) StartDownload(ctx context.Context, actor Actor, r DownloadRequest) (*Download, error) {
	if err := actor.require(PermRunJobs); err != nil {
		return nil, err
	}
	if err := topics.CheckDumpRequest(r.Snapshot, r.Path, r.Format); err != nil {
		return nil, &Error{Code: CodeInvalid, Message: sentence(err.Error())}
	}
	h, err := s.GetHost(ctx, r.HostID)
	if err != nil {
		return nil, err
	}
	if !s.presence.isOnline(r.HostID) {
		return nil, &Error{Code: CodeHostOffline, Message: "This host is offline, so nothing can be downloaded from it now; try again once it is back online."}
	}
	d := &Download{Request: r, HostName: h.Name, actor: actor, ended: s.auditDownload}
	if err := s.downloads.add(d); err != nil {
		return nil, err
	}
	if s.db.pg != nil { // the upload may reach another replica
		if err := s.openRelay(ctx, d); err != nil {
			d.Finish(0, err)
			return nil, err
		}
	}
	q := topics.Query{Op: topics.QueryDump, Snapshot: r.Snapshot, Path: r.Path, Format: r.Format, Upload: d.token}
	reply, err := s.AskAgent(ctx, actor, r.HostID, q)
	if err != nil {
		d.Finish(0, err)
		return nil, err
	}
	if reply.Dump == nil { // topics.Reply.Validate makes a dump reply carry one
		err := &Error{Code: CodeAgentFailed, Message: "The host's answer named no file to send."}
		d.Finish(0, err)
		return nil, err
	}
	d.Start = *reply.Dump
	return d, nil
}

// Body waits for the agent's upload (at most DownloadStartTimeout) and
// returns it: restic's output, which reads to io.EOF only when the agent's
// trailer confirmed every byte, and fails otherwise. If ctx ends or time
// runs out first, the token is dropped and an upload arriving later is
// refused.
func (d *Download) Body(ctx context.Context) (io.Reader, error) {
	timer := time.NewTimer(orDefault(d.reg.startTimeout, DownloadStartTimeout))
	defer timer.Stop()
	var elsewhere <-chan struct{} // nil: never
	if d.relay != nil {
		looking, stop := context.WithCancel(ctx)
		defer stop()
		elsewhere = d.relay.claimedElsewhere(looking)
	}
	var why error
	select {
	case <-d.attached:
		return d.upload.body, nil
	case <-elsewhere:
		d.reg.giveUp(d)
		return d.relayed(ctx), nil
	case <-timer.C:
		why = &Error{Code: CodeAgentTimeout, Message: "The host said it would send the download but did not start within a minute; try again, and check that the agent reaches the server's URL."}
	case <-ctx.Done():
		why = &Error{Code: CodeUnavailable, Message: "The download was abandoned before the host started sending.", Err: ctx.Err()}
	}
	if d.reg.giveUp(d) { // it arrived as we gave up: take it, Finish ends it
		return d.upload.body, nil
	}
	if d.relay != nil && d.relay.abandon(context.WithoutCancel(ctx)) { // another replica took it as we gave up
		return d.relayed(ctx), nil
	}
	return nil, why
}

// relayed is the body of an upload another replica took.
func (d *Download) relayed(ctx context.Context) io.Reader {
	d.relay.remote = true
	return &relayReader{ctx: ctx, r: d.relay}
}

// Finish ends the download: bytes were sent to the person, err says why
// it failed (nil: complete). The agent's upload gets err as its answer, so
// the agent learns that the person went away or the stream broke. It
// writes the audit row and may be called more than once; only the first
// call counts.
func (d *Download) Finish(bytes int64, err error) {
	d.once.Do(func() {
		if d.reg.giveUp(d) {
			d.upload.done <- err // read after attach set it, under the same locks
		}
		d.reg.release(d)
		if d.relay != nil {
			d.relay.finish(err)
		}
		d.ended(d, bytes, err)
	})
}

// auditDownload logs and audits how a download ended: who, host,
// snapshot, path, format, bytes, ok or why not.
func (s *Service) auditDownload(d *Download, bytes int64, failure error) {
	r := d.Request
	details := map[string]any{"host_id": r.HostID, "snapshot": r.Snapshot, "path": r.Path, "format": string(r.Format),
		"kind": d.Start.Kind, "bytes": bytes, "ok": failure == nil}
	if failure != nil {
		details["error"] = failureText(failure)
		s.log.Warn("download failed", "host", r.HostID, "snapshot", r.Snapshot, "path", r.Path, "format", r.Format,
			"bytes", bytes, "by", d.actor.Name, "err", failure)
	} else {
		s.log.Info("download sent", "host", r.HostID, "snapshot", r.Snapshot, "path", r.Path, "format", r.Format,
			"bytes", bytes, "by", d.actor.Name)
	}
	// The person's request may be gone (that may be why it failed): the
	// row is written on a context of its own.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		return s.audit(ctx, tx, d.actor, "snapshot.download", d.HostName, details)
	})
	if err != nil {
		s.log.Error("download: audit", "host", r.HostID, "err", err)
	}
}

// failureText is what the audit row says of a failed download: a domain
// error's sentence, or the stream's failure as it was found (the agent's
// words, a cut connection), which holds no secret.
func failureText(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return clipText(err.Error())
}

// ErrUploadAbandoned is what an upload gets when its download ended
// without an outcome (the server is stopping).
var ErrUploadAbandoned = errors.New("the download ended")

// AttachUpload hands an agent's upload to the download waiting for token.
// hostID and password are the agent's credentials (its MQTT ones); the
// token must have been issued to that host, and is spent by this call.
// body is the upload as web reads it: it reads to io.EOF only once the
// agent's trailer confirmed it. The returned wait blocks until the
// download ends and says how (nil: every byte reached the person); the
// caller answers the agent with that, then returns, which ends the body.
func (s *Service) AttachUpload(ctx context.Context, hostID, password, token string, body io.Reader) (wait func(context.Context) error, err error) {
	if kind, err := s.AuthenticateMQTT(ctx, hostID, []byte(password)); err != nil || kind != MQTTHost {
		if ErrorCodeOf(err) == CodeInternal {
			return nil, err
		}
		return nil, &Error{Code: CodeUnauthorized, Message: "The upload needs this host's id and MQTT password (HTTP basic auth)."}
	}
	if !topics.ValidDumpToken(token) {
		return nil, notFoundf("This upload token is unknown, used or expired; the download it was for has ended.")
	}
	if s.db.pg != nil { // spent in the store: the download may be another replica's
		own, err := s.claimUpload(ctx, hostID, token)
		if err != nil {
			return nil, err
		}
		if !own {
			return s.relayUpload(token, body), nil
		}
	}
	up := &upload{body: body, done: make(chan error, 1)}
	if _, err := s.downloads.attach(hostID, token, up); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		select {
		case err := <-up.done:
			return err
		case <-ctx.Done():
			return ErrUploadAbandoned
		}
	}, nil
}
