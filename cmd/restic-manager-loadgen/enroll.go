package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// simAgentVersion is the agent version simulated agents enroll and say
// hello with.
const simAgentVersion = "loadgen"

// credHost is one enrolled identity: what the real agent keeps in its
// agent.yaml, and whether the loadgen gave the host a repository.
type credHost struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Password string `json:"password"`
	Repo     bool   `json:"repo,omitempty"`
}

// credCache is the credentials file: the identities enrolled on one server
// (told apart by its CA), reused by later runs so that a rerun — a restart
// storm from the agents' side — needs no new enrollment.
type credCache struct {
	CAFingerprint string     `json:"ca_fingerprint"`
	Hosts         []credHost `json:"hosts"`

	path string
	mu   sync.Mutex
}

// loadCreds reads path; a missing file, or one for another server, is an
// empty cache.
func loadCreds(path, fingerprint string) (*credCache, error) {
	c := &credCache{CAFingerprint: fingerprint, path: path}
	if path == "" {
		return c, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	var old credCache
	if err := json.Unmarshal(data, &old); err != nil {
		return nil, fmt.Errorf("credentials file %s: %w (delete it to enroll again)", path, err)
	}
	if old.CAFingerprint == fingerprint {
		c.Hosts = old.Hosts
	}
	return c, nil
}

// save writes the cache (0600: it holds MQTT passwords) atomically.
func (c *credCache) save() error {
	if c.path == "" {
		return nil
	}
	c.mu.Lock()
	data, err := json.Marshal(c)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return err
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, c.path)
}

// keepKnown drops cached hosts the server no longer lists (revoked, or a
// server whose database was replaced).
func (c *credCache) keepKnown(hosts []apiHost) {
	known := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		known[h.ID] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.Hosts[:0]
	for _, h := range c.Hosts {
		if known[h.ID] {
			kept = append(kept, h)
		}
	}
	c.Hosts = kept
}

// enroll makes identities until the cache holds n: an enrollment token
// through the JSON API, then the agent's own enrollment request.
func (c *credCache) enroll(ctx context.Context, api *apiClient, n, workers int, progress func(done int)) error {
	c.mu.Lock()
	have := len(c.Hosts)
	c.mu.Unlock()
	if have >= n {
		return nil
	}
	run := randomHex(3)
	var done atomic.Int64
	err := parallel(ctx, n-have, workers, func(i int) error {
		name := fmt.Sprintf("lg-%s-%05d", run, have+i)
		var tok struct {
			Token string `json:"token"`
		}
		if err := retryBusy(ctx, func() error {
			_, err := api.do(ctx, "POST", "/api/v1/enrollment-tokens", map[string]any{"host_name": name, "ttl": "1h"}, &tok)
			return err
		}); err != nil {
			return err
		}
		var res topics.EnrollResponse
		req := topics.EnrollRequest{Token: tok.Token, Hostname: "loadgen", OS: "linux", Arch: "amd64", AgentVersion: simAgentVersion}
		if err := retryBusy(ctx, func() error { _, err := api.do(ctx, "POST", topics.EnrollPath, req, &res); return err }); err != nil {
			return err
		}
		if err := res.Validate(); err != nil {
			return fmt.Errorf("enroll %s: %w", name, err)
		}
		c.mu.Lock()
		c.Hosts = append(c.Hosts, credHost{ID: res.HostID, Name: name, Password: res.MQTTPassword})
		c.mu.Unlock()
		if d := int(done.Add(1)); d%500 == 0 {
			_ = c.save()
			if progress != nil {
				progress(d)
			}
		}
		return nil
	})
	if serr := c.save(); err == nil {
		err = serr
	}
	return err
}

// giveRepositories sets a repository on the first n hosts that have none
// (the server refuses jobs to a host without one); each queues an init job
// the simulated agent answers.
func (c *credCache) giveRepositories(ctx context.Context, api *apiClient, hosts []credHost, workers int) error {
	var todo []int
	for i, h := range hosts {
		if !h.Repo {
			todo = append(todo, i)
		}
	}
	err := parallel(ctx, len(todo), workers, func(k int) error {
		h := &hosts[todo[k]]
		body := map[string]any{"url": "/srv/restic/loadgen/" + h.Name, "password": "loadgen repository password"}
		if err := retryBusy(ctx, func() error { _, err := api.do(ctx, "PUT", "/api/v1/hosts/"+h.ID+"/repository", body, nil); return err }); err != nil {
			return err
		}
		c.mu.Lock()
		h.Repo = true
		for i := range c.Hosts {
			if c.Hosts[i].ID == h.ID {
				c.Hosts[i].Repo = true
			}
		}
		c.mu.Unlock()
		return nil
	})
	if serr := c.save(); err == nil {
		err = serr
	}
	return err
}

// retryBusy runs call again, up to five times with a growing pause, while
// the server answers that it is busy or unavailable (HTTP 429 or 5xx): the
// setup before a run is not what is measured, and a loaded server may
// refuse a moment.
func retryBusy(ctx context.Context, call func() error) error {
	wait := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := call()
		var ae *apiError
		if err == nil || attempt == 5 || !errors.As(err, &ae) || (ae.Status != http.StatusTooManyRequests && ae.Status < 500) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first
// error (the others stop taking work).
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range max(1, min(workers, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
