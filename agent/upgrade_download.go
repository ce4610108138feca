package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// Download of an upgrade's binary, made for flaky links: the bytes go to
// <state_dir>/upgrade/<sha256>.part as they arrive, and every retry (with
// backoff) asks only for the rest (HTTP Range). A server that ignores the
// Range answers 200 and the file starts over. The whole file is checked
// against the command's size and SHA-256 before anything else uses it.

// downloadOptions tunes binaryDownload; the zero value is production.
type downloadOptions struct {
	attempts int           // tries in all (default 8)
	backoff  time.Duration // first wait between tries, doubling (default 2s)
	maxWait  time.Duration // cap of the wait (default 1m)
	idle     time.Duration // a connection that sends nothing this long is dropped (default 1m)
}

func (o downloadOptions) withDefaults() downloadOptions {
	if o.attempts <= 0 {
		o.attempts = 8
	}
	if o.backoff <= 0 {
		o.backoff = 2 * time.Second
	}
	if o.maxWait <= 0 {
		o.maxWait = time.Minute
	}
	if o.idle <= 0 {
		o.idle = time.Minute
	}
	return o
}

// binaryDownload fetches one upgrade's binary.
type binaryDownload struct {
	client *http.Client
	url    string // server URL + the command's path
	dir    string // where the partial file lives
	want   *topics.Upgrade
	opts   downloadOptions
	log    *slog.Logger
}

// errPermanent marks a download failure a retry cannot fix.
type errPermanent struct{ error }

// fetch downloads until the file is complete and verified, retrying with
// backoff, and returns the path of the verified file.
func (d *binaryDownload) fetch(ctx context.Context) (string, error) {
	opts := d.opts.withDefaults()
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", d.dir, err)
	}
	part := filepath.Join(d.dir, d.want.SHA256+".part")
	d.dropOtherParts(part)
	wait := opts.backoff
	var last error
	for attempt := 1; attempt <= opts.attempts; attempt++ {
		err := d.once(ctx, part, opts.idle)
		if err == nil {
			return part, d.verify(part)
		}
		var perm errPermanent
		if errors.As(err, &perm) || ctx.Err() != nil {
			return "", err
		}
		last = err
		if attempt == opts.attempts {
			break
		}
		d.log.Warn("upgrade: download interrupted; resuming", "attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, opts.maxWait)
	}
	return "", fmt.Errorf("the download failed %d times, the last: %w", opts.attempts, last)
}

// dropOtherParts removes partial downloads of other builds: only the
// build asked for now can still be resumed.
func (d *binaryDownload) dropOtherParts(keep string) {
	others, _ := filepath.Glob(filepath.Join(d.dir, "*.part"))
	for _, p := range others {
		if p != keep {
			os.Remove(p)
		}
	}
}

// once makes one request for what part is still missing and appends it.
func (d *binaryDownload) once(ctx context.Context, part string, idle time.Duration) error {
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return errPermanent{fmt.Errorf("open %s: %w", part, err)}
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return errPermanent{err}
	}
	if have >= d.want.Size {
		if have == d.want.Size {
			return nil
		}
		if err := f.Truncate(0); err != nil {
			return errPermanent{err}
		}
		have = 0
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url, nil)
	if err != nil {
		return errPermanent{err}
	}
	req.Header.Set("User-Agent", "restic-manager-agent/"+Version)
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if sum := resp.Header.Get("X-Checksum-Sha256"); sum != "" && !strings.EqualFold(sum, d.want.SHA256) {
		return errPermanent{fmt.Errorf("the server now serves another build (sha256 %s…): ask for the upgrade again", clipText(sum[:min(len(sum), 12)]))}
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(have, 10)+"-") {
			f.Truncate(0)
			return fmt.Errorf("the server resumed at the wrong offset (%q); starting over", clipText(resp.Header.Get("Content-Range")))
		}
	case resp.StatusCode == http.StatusOK:
		if err := f.Truncate(0); err != nil {
			return errPermanent{err}
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return errPermanent{err}
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		f.Truncate(0)
		return fmt.Errorf("the server refused to resume (416); starting over")
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("the server answered %s", resp.Status)
	default:
		return errPermanent{fmt.Errorf("the server answered %s for %s", resp.Status, d.want.Path)}
	}
	watch := time.AfterFunc(idle, cancel)
	defer watch.Stop()
	body := &idleReader{r: io.LimitReader(resp.Body, d.want.Size+1), reset: func() { watch.Reset(idle) }}
	if _, err := io.Copy(f, body); err != nil {
		f.Sync()
		return fmt.Errorf("connection dropped: %w", err)
	}
	if err := f.Sync(); err != nil {
		return errPermanent{err}
	}
	end, _ := f.Seek(0, io.SeekEnd)
	if end < d.want.Size {
		return fmt.Errorf("the connection ended after %d of %d bytes", end, d.want.Size)
	}
	return nil
}

// verify checks the complete file's size and SHA-256; a mismatch removes
// it (the next try starts over).
func (d *binaryDownload) verify(part string) error {
	f, err := os.Open(part)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("read %s: %w", part, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if n != d.want.Size || sum != d.want.SHA256 {
		os.Remove(part)
		return fmt.Errorf("checksum mismatch: the download is %d bytes with sha256 %s, the server announced %d bytes with sha256 %s",
			n, sum, d.want.Size, d.want.SHA256)
	}
	return nil
}

// idleReader calls reset after every read that returned data.
type idleReader struct {
	r     io.Reader
	reset func()
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.reset()
	}
	return n, err
}
