package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// maxDesiredConfigSize bounds the stored config we read back; the wire
// bounds a config to topics.MaxPayload anyway.
const maxDesiredConfigSize = topics.MaxPayload

// desiredConfig is the desired configuration the server sent (down/config)
// that this agent applied: the repository jobs run against, and its
// version, which hello and status report so the server knows when to send
// a newer one.
//
// It is kept in state_dir/desired_config.json with mode 0600, because it holds the
// repository's password and backend credentials: written atomically
// (temporary file, fsync, rename, directory fsync), so a crash leaves the
// old config or the new one, never a torn file. A file that cannot be read
// back is not fatal: the agent starts with version 0 and the server, seeing
// that in hello, sends the current config again.
type desiredConfig struct {
	path string
	host string
	log  *slog.Logger

	mu  sync.Mutex
	cur *topics.Config // nil: none applied
}

// loadDesiredConfig reads the applied config from path.
func loadDesiredConfig(path, host string, log *slog.Logger) *desiredConfig {
	d := &desiredConfig{path: path, host: host, log: log}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return d
	case err != nil:
		log.Warn("cannot read the stored config; starting without one (the server sends it again after hello)", "path", path, "err", err)
		return d
	case len(data) > maxDesiredConfigSize:
		log.Warn("the stored config is too large; starting without one (the server sends it again after hello)", "path", path, "bytes", len(data))
		return d
	}
	var c topics.Config
	if err := topics.DecodeFrom(data, host, &c); err != nil {
		log.Warn("the stored config is damaged; starting without one (the server sends it again after hello)", "path", path, "err", clipText(err.Error()))
		return d
	}
	d.cur = &c
	return d
}

// version is the applied config's version, 0 when none is.
func (d *desiredConfig) version() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == nil {
		return 0
	}
	return d.cur.Version
}

// repository is the applied config's repository as restic takes it, or
// nil when the config has none.
func (d *desiredConfig) repository() *restic.Repository {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == nil || d.cur.Repository == nil {
		return nil
	}
	r := d.cur.Repository
	env := make(map[string]string, len(r.Env))
	for k, v := range r.Env {
		env[k] = v
	}
	return &restic.Repository{URL: r.URL, Password: r.Password, Env: env}
}

// bandwidth is the applied config's host-wide caps, for every restic run
// that talks to the repository (a job's own limits win over them).
func (d *desiredConfig) bandwidth() topics.Bandwidth {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == nil || d.cur.Bandwidth == nil {
		return topics.Bandwidth{}
	}
	return *d.cur.Bandwidth
}

// current is the applied config (nil when none is). Callers must not
// change it: a newer config replaces it, never edits it.
func (d *desiredConfig) current() *topics.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur
}

// apply stores c and makes it the applied config if its version is newer
// than the applied one. It reports whether it did; an error means c is not
// applied (the server sends it again after the next hello, since the
// version in hello stays older).
func (d *desiredConfig) apply(c *topics.Config) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur != nil && c.Version <= d.cur.Version {
		return false, nil
	}
	data, err := topics.Encode(c)
	if err != nil {
		return false, fmt.Errorf("encode config version %d: %w", c.Version, err)
	}
	if err := writeFileAtomic(d.path, data, 0o600); err != nil {
		return false, fmt.Errorf("store config version %d: %w: check that state_dir is writable", c.Version, err)
	}
	d.cur = c
	return true, nil
}
