package agent

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"time"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// uploadDump streams `restic dump` to the server: a POST to the upload
// path of token, authenticated as this host (basic auth: host id and MQTT
// password) over the pinned TLS the upgrade download uses, chunked, the
// folder's tar gzip-compressed here for tar.gz. The request's trailer says
// how it ended (topics.DumpTrailer): ok with the byte count and SHA-256,
// or failed with restic's reason; a canceled dump cuts the connection
// instead. If the server stops taking the bytes (the person went away, it
// answered early) restic is stopped. Either way the outcome goes to the
// agent's log, as nobody else will read it.
func (a *Agent) uploadDump(token string, repo restic.Repository, q restic.DumpQuery, start *topics.DumpStart) {
	ctx, cancel := context.WithCancel(a.stopping)
	defer cancel()
	log := a.log.With("path", q.Path, "snapshot", q.Snapshot, "kind", start.Kind, "format", start.Format)
	client, endpoint, err := a.upgradeClient(topics.DumpUploadPath(token))
	if err != nil {
		log.Error("download: cannot reach the server to upload", "err", err)
		return
	}
	pr, pw := io.Pipe()
	body := &dumpBody{pr: pr}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, body)
	if err != nil {
		log.Error("download: build the upload request", "err", err)
		return
	}
	req.ContentLength = -1 // chunked: the trailer follows the body
	req.Trailer = http.Header{}
	for _, name := range topics.DumpTrailerNames {
		req.Trailer[name] = nil
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("User-Agent", "restic-manager-agent/"+Version)
	req.SetBasicAuth(a.cfg.HostID, a.cfg.MQTTPassword)
	body.req = req

	produced := make(chan topics.DumpTrailer, 1)
	go func() { produced <- a.produceDump(ctx, cancel, repo, q, start, pw, body) }()

	resp, err := client.Do(req)
	answer := ""
	switch {
	case err != nil:
		answer = "the upload broke off: " + clipText(unwrapURLError(err).Error())
	case resp.StatusCode != http.StatusOK:
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		msg, ok := apiErrorMessage(data)
		if !ok {
			msg = resp.Status
		}
		answer = "the server refused the upload: " + msg
	}
	if resp != nil {
		resp.Body.Close()
	}
	if answer != "" {
		cancel() // the server takes no more: stop restic
	}
	tr := <-produced
	switch {
	case answer != "":
		log.Error("download failed", "err", answer, "bytes", tr.Bytes, "dump", dumpOutcome(tr))
	case !tr.OK:
		log.Error("download failed", "err", tr.Error)
	default:
		log.Info("download sent", "bytes", tr.Bytes)
	}
}

// produceDump runs restic dump into pw (through gzip for a folder's
// tar.gz), counting and hashing what it writes, and ends the body: a
// trailer (ok, or failed with restic's reason) then EOF when restic ended
// by itself; a cut (CloseWithError) when the dump was canceled, so that
// the server sees a broken stream, not a failed one. A write the server
// does not take cancels the dump (cancel), which stops restic.
func (a *Agent) produceDump(ctx context.Context, cancel context.CancelFunc, repo restic.Repository, q restic.DumpQuery,
	start *topics.DumpStart, pw *io.PipeWriter, body *dumpBody) topics.DumpTrailer {
	sink := &dumpSink{w: pw, sum: sha256.New(), cancel: cancel}
	var out io.Writer = sink
	var gz *gzip.Writer
	if start.Format == topics.DumpTarGz {
		// BestSpeed: a download waits on it, and a folder's files are
		// often compressed already.
		gz, _ = gzip.NewWriterLevel(sink, gzip.BestSpeed)
		out = gz
	}
	began := time.Now()
	args, err := restic.DumpArgs(q)
	if err == nil {
		err = a.runner.Browse(ctx, repo, args, a.queries.grace, func(stdout io.Reader) error {
			_, err := io.Copy(out, stdout)
			return err
		})
	}
	var tr topics.DumpTrailer
	switch {
	case ctx.Err() != nil || sink.err != nil:
		// Canceled (the server stopped taking it, the agent stops): cut
		// the stream rather than end it, so it cannot pass for complete.
		why := cmpErr(sink.err, context.Cause(ctx))
		pw.CloseWithError(why)
		return topics.DumpTrailer{Bytes: sink.n, Error: "canceled: " + why.Error()}
	case err != nil:
		tr.Error = "restic dump failed: " + err.Error()
	case gz != nil && gz.Close() != nil:
		tr.Error = "compressing the archive failed"
	default:
		tr = topics.DumpTrailer{OK: true, Bytes: sink.n, SHA256: hex.EncodeToString(sink.sum.Sum(nil))}
	}
	if !tr.OK {
		tr.Bytes = sink.n
	}
	body.end(tr)
	pw.Close()
	a.log.Debug("download: restic dump ended", "path", q.Path, "bytes", sink.n, "ok", tr.OK, "took", time.Since(began).Round(time.Millisecond))
	return tr
}

func cmpErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return errors.New("canceled")
}

func dumpOutcome(tr topics.DumpTrailer) string {
	if tr.OK {
		return "complete"
	}
	return tr.Error
}

// dumpBody is the upload's request body: restic's stream from the pipe,
// and at its end the trailer, set on the request by the transport's own
// goroutine as it reads EOF (so nothing races its reading of the
// request's Trailer).
type dumpBody struct {
	pr      *io.PipeReader
	req     *http.Request
	trailer topics.DumpTrailer // set by end before the pipe is closed
}

func (b *dumpBody) end(tr topics.DumpTrailer) { b.trailer = tr }

func (b *dumpBody) Read(p []byte) (int, error) {
	n, err := b.pr.Read(p)
	if err == io.EOF {
		for k, v := range b.trailer.Values() {
			b.req.Trailer.Set(k, v)
		}
	}
	return n, err
}

func (b *dumpBody) Close() error { return b.pr.Close() }

// dumpSink counts and hashes what goes through it; its first failed
// write cancels the dump and is kept.
type dumpSink struct {
	w      io.Writer
	sum    hash.Hash
	n      int64
	err    error
	cancel context.CancelFunc
}

func (s *dumpSink) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	s.sum.Write(p[:n])
	s.n += int64(n)
	if err != nil {
		s.err = fmt.Errorf("the server stopped taking the download: %w", err)
		s.cancel()
	}
	return n, s.err
}
