package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// receiveUpload takes an agent's upload of a download (POST
// /agent/v1/uploads/:token, topics.DumpUploadPath): the agent
// authenticates with its host id and MQTT password (basic auth), the token
// says which download it is for. The body is handed to the download
// waiting for it, whose handler copies it to the browser; this handler
// waits until that ends and answers the agent with how it went: 200 once
// every byte reached the browser, an error with a sentence otherwise (the
// browser went away, the stream broke), so the agent stops restic and logs
// it. The body is read under an idle deadline instead of the server's
// whole-request one: a large download takes as long as it takes.
func (h *handler) receiveUpload(c *gin.Context) {
	ctx := c.Request.Context()
	hostID, password, _ := c.Request.BasicAuth()
	body := &uploadBody{req: c.Request, rc: http.NewResponseController(c.Writer), idle: downloadIdle, sum: sha256.New()}
	_ = body.rc.SetReadDeadline(time.Now().Add(downloadIdle))
	wait, err := h.svc.AttachUpload(ctx, hostID, password, c.Param("token"), body)
	if err != nil {
		// Refused before a byte was read: close the connection rather
		// than read the rest of a body nobody wants.
		c.Header("Connection", "close")
		h.apiError(c, err)
		return
	}
	if err := wait(ctx); err != nil {
		c.Header("Connection", "close")
		var e *server.Error
		if !errors.As(err, &e) {
			e = &server.Error{Code: server.CodeConflict, Message: "The download did not reach the person whole: " + err.Error() + "."}
		}
		h.apiError(c, e)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": topics.DumpStatusOK, "bytes": body.n})
}

// uploadBody is an agent's upload as the download reads it: it counts and
// hashes the bytes, renews the idle read deadline on every read, and at
// the end checks the agent's trailer (topics.ParseDumpTrailer). It
// returns io.EOF only for an ok trailer that matches what arrived; a
// failed or missing trailer, a mismatch, or a broken connection is an
// error, also on every later read.
type uploadBody struct {
	req  *http.Request
	rc   *http.ResponseController
	idle time.Duration
	sum  hash.Hash
	n    int64
	err  error
}

func (b *uploadBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	k, err := b.req.Body.Read(p)
	b.sum.Write(p[:k])
	b.n += int64(k)
	switch {
	case err == io.EOF:
		tr, terr := topics.ParseDumpTrailer(b.req.Trailer.Get)
		if terr == nil {
			terr = tr.Check(b.n, hex.EncodeToString(b.sum.Sum(nil)))
		}
		b.err = io.EOF
		if terr != nil {
			b.err = terr
		}
	case err != nil:
		b.err = fmt.Errorf("the upload from the host broke off after %d bytes: %w", b.n, err)
	}
	return k, b.err
}
