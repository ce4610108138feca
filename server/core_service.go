package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Service is the domain facade: every use case of the web layer and the
// command line is a method here.
type Service struct {
	db     *DB
	box    *SecretBox
	log    *slog.Logger
	now    func() time.Time
	events *Bus

	logins     *loginThrottle  // sign-in attempts per address and per (address, name)
	creds      *credCache      // MQTT secrets the store verified (fleet_mqttauth_cache.go)
	hellos     *helloQueue     // hellos waiting for their resends (ingest_hello.go)
	hostStates *hostStateQueue // hosts whose monitor state an ended job changed (jobs_host_states.go)
	ingest     IngestStats
	presence   *Presence
	ann        *announcer

	hashCost  PasswordHashCost // of new password hashes (auth_password.go)
	dummyHash func() string    // what an unknown name's sign-in is checked against

	// Jobs (#3): the writer's queue, its options, the per-host resend
	// limit, live progress and the config versions agents reported.
	ingestQ    chan ingestItem
	ingestOpts IngestOptions
	jobOpts    JobOptions
	resends    *throttle
	progress   *progressTracker
	applied    appliedVersions

	// ingestEvents counts the job events in ingestQ (ingest_queue.go).
	ingestEvents atomic.Int64
	// decodes bounds the agent messages decoded at once (ingest_bound.go).
	decodes decodeBound

	// #4: logs of jobs the agent started that wait for their first event.
	unknownLogs unknownLogJobs
	// #13: when the sweep last looked for hosts due for stats (jobs_stats.go).
	statsLooked statsCadence

	notify *notifier // the notification delivery worker (notify_deliver.go)
	// #14: queries sent to agents that wait for their reply (browse_ask.go).
	queries pendingQueries
	// #14: downloads in progress and their upload tokens (browse_download.go).
	downloads downloadRegistry

	cluster *cluster // the leader lease and the event bridge (core_cluster.go)

	pubMu        sync.Mutex
	pub          Publisher
	disconnecter Disconnecter // the broker, for revocation
}

// Options tunes a Service; the zero value is production defaults.
type Options struct {
	// Now replaces the clock in tests.
	Now func() time.Time
	// Presence tunes online/offline tracking.
	Presence PresenceOptions
	// Announce tunes announce-and-approve.
	Announce AnnounceOptions
	// Ingest tunes the store-first pipeline for job events, logs and
	// snapshot reports.
	Ingest IngestOptions
	// Jobs tunes the job expiry sweeper.
	Jobs JobOptions
	// PasswordHashCost is the argon2id cost of new password hashes; zero
	// is DefaultPasswordHashCost. Only test fixtures set it (lower, for
	// speed); nothing in production does, and a Service built with less
	// than the default logs a warning.
	PasswordHashCost PasswordHashCost
	// Cluster tunes the leader lease of several replicas on PostgreSQL.
	Cluster ClusterOptions
	// Database is the store when it is not the data directory's SQLite
	// file: a postgres:// URL (serve --db). Empty: <data>/restic-manager.db.
	Database string
}

// NewService builds the domain on an open store and a secret box.
func NewService(db *DB, box *SecretBox, logger *slog.Logger, opts Options) *Service {
	if logger == nil {
		logger = slog.Default()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Service{db: db, box: box, log: logger, events: NewBus(), now: func() time.Time { return now().UTC() }}
	s.logins = newLoginThrottle(s.now)
	s.creds = newCredCache(s.now)
	s.startHelloWorkers()
	s.startHostStates()
	s.hashCost = opts.PasswordHashCost.orDefault()
	s.dummyHash = newDummyHash(s.hashCost)
	if s.hashCost.belowDefault() {
		logger.Warn("password hashes are cheaper than the default: this is for tests only", "cost", s.hashCost)
	}
	s.presence = newPresence(s, opts.Presence)
	s.ann = newAnnouncer(opts.Announce, s.now)
	s.ingestOpts, s.jobOpts = opts.Ingest.withDefaults(), opts.Jobs.withDefaults()
	s.ingestQ = make(chan ingestItem, s.ingestOpts.QueueSize)
	s.resends = newThrottle(1, s.ingestOpts.ResendEvery, s.now)
	s.progress = newProgressTracker()
	s.applied.v = make(map[string]int64)
	s.notify = newNotifier()
	s.cluster = newCluster(opts.Cluster)
	return s
}

// DB exposes the store for wiring and tests.
func (s *Service) DB() *DB { return s.db }

// Events is the in-process bus the web layer's SSE streams listen to.
func (s *Service) Events() *Bus { return s.events }

// Presence tracks which hosts are online.
func (s *Service) Presence() *Presence { return s.presence }

// SetPublisher connects the domain to the broker: presence publishes the
// monitor topics through it and announce-and-approve its answers to pending
// agents. Call it once the broker runs.
func (s *Service) SetPublisher(p Publisher) {
	s.pubMu.Lock()
	s.pub = p
	s.pubMu.Unlock()
	s.presence.SetPublisher(p)
}

// publisher is the broker, or nil before SetPublisher.
func (s *Service) publisher() Publisher {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	return s.pub
}

// randomToken returns a URL-safe token with 256 bits of entropy and a prefix
// that tells a person what it is if it ever turns up somewhere (rmt_ API
// token, rme_ enrollment token, ...).
func randomToken(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("server: crypto/rand failed: %v", err))
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// tokenHash is how every high-entropy token is stored. A fast hash is enough
// because the tokens are random 256-bit values, not passwords.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Close stops the hello workers and the host states' worker, and closes
// the store.
func (s *Service) Close() error {
	s.hellos.close()
	s.hostStates.close()
	return s.db.Close()
}

// Run does the domain's background work until ctx ends. It returns when
// all of it has stopped. Messages from agents wait in the writer's queue
// until Run starts.
//
// On every replica (docs/replicas.md has the table, with the reasons):
// presence flushes and sweeps (Presence.Run), the ingest writer that stores
// job events, logs and snapshot reports and acks them (it stores what is
// still queued before it stops), the pending-host sweep (every
// AnnounceOptions.SweepEvery; its store part is one write transaction, and
// write transactions run one at a time across replicas) with the pruning
// of this replica's live progress, and the event bridge to the other
// replicas (core_cluster.go). On the leader only (always this process on
// SQLite): the job sweeper (expiry and the stats jobs it queues), the
// notification outbox and its delivery, and the health evaluator with the
// stored health word.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.presence.Run(ctx) })
	wg.Go(func() { s.runIngestWriter(ctx) })
	wg.Go(func() { s.runEventBridge(ctx) })
	wg.Go(func() { s.runLeader(ctx, s.runSingletons) })
	t := time.NewTicker(s.ann.opts.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
			if err := s.sweepPendingHosts(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("announce: sweep", "err", err)
			}
			s.progress.prune(s.now(), progressKeep)
		}
	}
}

// runSingletons is the background work one replica does for all of them
// (the leader's, core_cluster.go), until ctx ends.
func (s *Service) runSingletons(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.runJobSweeper(ctx) })
	wg.Go(func() { s.runNotifications(ctx) }) // the notification outbox (notify_deliver.go)
	wg.Go(func() { s.runHealthWatch(ctx) })   // host health transitions (fleet_health_watch.go)
	wg.Wait()
}
