package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// downloadIdle is how long a download may stand still in either direction
// (the agent sends nothing, the browser reads nothing) before it is cut.
const downloadIdle = 2 * time.Minute

// downloadChunk is the copy buffer: two of them per download are all the
// memory a download holds, however large the file.
const downloadChunk = 32 << 10

// downloadSnapshot streams a file, or a folder as tar.gz or zip, from a
// snapshot to the browser (GET /hosts/:id/snapshots/:snap/download and the
// API's twin): ?path=/dir/file[&format=tar.gz|zip]. The domain asks the
// agent and answers before any byte is sent: an offline host, a path the
// snapshot lacks, a host whose restic cannot do it get a sentence. Then
// the agent's upload is copied through with a small fixed buffer; the
// last chunk read is held back until the agent's trailer confirmed the
// whole body, so a stream broken anywhere makes the response fail
// (connection closed before its end) and never looks like a complete,
// shorter file.
func (h *handler) downloadSnapshot(c *gin.Context) {
	ctx := c.Request.Context()
	req := server.DownloadRequest{HostID: c.Param("id"), Snapshot: c.Param("snap"), Path: c.Query("path"),
		Format: topics.DumpFormat(c.Query("format"))}
	d, err := h.svc.StartDownload(ctx, h.actor(c), req)
	if err != nil {
		h.downloadError(c, err)
		return
	}
	body, err := d.Body(ctx)
	if err != nil {
		d.Finish(0, err)
		h.downloadError(c, err)
		return
	}
	hd := c.Writer.Header()
	hd.Set("Content-Type", downloadContentType(d.Start))
	hd.Set("Content-Disposition", downloadDisposition(req, d.Start))
	hd.Set("Cache-Control", "no-store")
	if d.Start.Kind == topics.DumpKindFile {
		hd.Set("Content-Length", strconv.FormatUint(d.Start.Size, 10))
	}
	c.Status(http.StatusOK)
	n, err := streamHeld(c.Writer, http.NewResponseController(c.Writer), body)
	d.Finish(n, err)
	if err != nil {
		h.log.Warn("download cut", "host", req.HostID, "path", req.Path, "bytes", n, "err", err)
		// The status line is out: the only way left to say "failed" is to
		// end the response before its end (no last chunk, or fewer bytes
		// than Content-Length). net/http closes the connection for this
		// panic without logging it.
		panic(http.ErrAbortHandler)
	}
}

// downloadError answers a download that could not start, before any byte.
func (h *handler) downloadError(c *gin.Context, err error) {
	if wantsJSON(c.Request) {
		h.apiError(c, err)
		return
	}
	h.pageError(c, err)
}

// streamHeld copies body to w through two fixed buffers, holding the last
// chunk read until body ends cleanly (io.EOF), and returns the bytes
// written. Every write has a deadline of downloadIdle, so a browser that
// stops reading does not hold the agent's upload forever.
func streamHeld(w io.Writer, rc *http.ResponseController, body io.Reader) (int64, error) {
	bufs := [2][]byte{make([]byte, downloadChunk), make([]byte, downloadChunk)}
	var held []byte
	var n int64
	write := func(p []byte) error {
		if len(p) == 0 {
			return nil
		}
		_ = rc.SetWriteDeadline(time.Now().Add(downloadIdle))
		k, err := w.Write(p)
		n += int64(k)
		if err != nil {
			return errors.New("the browser stopped reading: " + err.Error())
		}
		return nil
	}
	for cur := 0; ; {
		k, rerr := body.Read(bufs[cur])
		if k > 0 {
			if err := write(held); err != nil {
				return n, err
			}
			held, cur = bufs[cur][:k], 1-cur
		}
		switch {
		case rerr == io.EOF:
			if err := write(held); err != nil {
				return n, err
			}
			return n, nil
		case rerr != nil:
			return n, rerr
		}
	}
}

// downloadContentType is the media type of what the agent sends.
func downloadContentType(s topics.DumpStart) string {
	switch {
	case s.Kind == topics.DumpKindFile:
		return "application/octet-stream"
	case s.Format == topics.DumpZip:
		return "application/zip"
	}
	return "application/gzip"
}

// downloadDisposition makes the browser save the download under a safe
// name: the path's last element (a folder's with .tar.gz or .zip), "snapshot-<id>" for
// the whole snapshot, without control characters, quotes, slashes or
// backslashes, at most 200 bytes.
func downloadDisposition(r server.DownloadRequest, s topics.DumpStart) string {
	p := strings.TrimRight(r.Path, `/\`)
	name := p[strings.LastIndexAny(p, `/\`)+1:]
	if strings.HasSuffix(name, ":") || name == "" { // "/" or "C:\"
		name = strings.TrimSuffix("snapshot-"+r.Snapshot[:min(len(r.Snapshot), 8)]+"-"+strings.TrimSuffix(name, ":"), "-")
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`"\/`, r) || r == utf8.RuneError {
			return '_'
		}
		return r
	}, name)
	for len(name) > 200 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if s.Kind == topics.DumpKindDir {
		name += "." + string(s.Format)
	}
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		return v
	}
	return `attachment; filename="download"`
}
