package server_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// stormHost is one seeded host of the storm benchmarks.
type stormHost struct{ id, secret string }

// seedStormFleet inserts n hosts with known MQTT secrets, each with one
// queued check job (a hello resends its run command).
func seedStormFleet(b *testing.B, s *server.Service, n int) []stormHost {
	b.Helper()
	spec, _ := json.Marshal(topics.JobSpec{Kind: topics.JobCheck})
	now := time.Now().UTC()
	tx := s.DB().MustBegin()
	hosts := make([]stormHost, n)
	for i := range hosts {
		h := stormHost{id: topics.RandomID(topics.HostIDPrefix), secret: fmt.Sprintf("storm-secret-%06d", i)}
		sum := sha256.Sum256([]byte(h.secret))
		tx.MustExec(`INSERT INTO hosts (id, name, mqtt_secret_hash, created_at) VALUES (?, ?, ?, ?)`,
			h.id, fmt.Sprintf("storm-%06d", i), sum[:], now)
		tx.MustExec(`INSERT INTO jobs (uid, host_id, kind, spec, status, command_id, expires_at, created_by, created_at, updated_at)
			VALUES (?, ?, 'check', ?, 'queued', ?, ?, 'bench', ?, ?)`,
			topics.RandomID(topics.JobIDPrefix), h.id, string(spec), topics.NewMessageID(), now.Add(24*time.Hour), now, now)
		hosts[i] = h
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return hosts
}

// openFDs counts the process's open file descriptors.
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// peakFDs samples openFDs until stop is closed and returns the highest.
func peakFDs(stop <-chan struct{}) <-chan int {
	out := make(chan int, 1)
	go func() {
		peak := openFDs()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				out <- max(peak, openFDs())
				return
			case <-t.C:
				peak = max(peak, openFDs())
			}
		}
	}()
	return out
}

// BenchmarkReconnectStorm is a server restart as the domain sees it: every
// host of the fleet reconnects at once, each on its own goroutine as the
// broker calls the server on the connection's goroutine: it authenticates
// (AuthenticateMQTT), connects, says hello and sends its first status. Every
// host has one queued job, so a storm is over when every host's run command
// (the hello's resend) went out. It reports the storm's wall time, hosts per
// second and the process's peak open file descriptors (the SQLite
// connections among them).
func BenchmarkReconnectStorm(b *testing.B) {
	for _, n := range []int{1000} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			s := servertest.MustOpenService(b, server.Options{})
			hosts := seedStormFleet(b, s, n)
			var cmds atomic.Int64
			pub := &servertest.Publisher{Hook: func(m servertest.PublishedMessage) {
				if strings.HasSuffix(m.Topic, "/down/cmd") {
					cmds.Add(1)
				}
			}}
			s.SetPublisher(pub)
			servertest.RunInBackground(b, s)
			hellos := make([][]byte, n)
			statuses := make([][]byte, n)
			for i, h := range hosts {
				hellos[i], _ = json.Marshal(&topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, h.id), AgentVersion: "1.0",
					OS: "linux", Arch: "amd64", Hostname: "h", BootID: "boot"})
				statuses[i], _ = json.Marshal(&topics.Status{Envelope: topics.NewEnvelope(topics.TypeStatus, h.id), State: topics.StateOnline, BootID: "boot"})
			}
			var conn atomic.Uint64
			var total time.Duration
			peak := 0
			b.ResetTimer()
			for it := range b.N {
				stop := make(chan struct{})
				fds := peakFDs(stop)
				start := time.Now()
				var wg sync.WaitGroup
				var failed atomic.Int64
				for i, h := range hosts {
					wg.Go(func() {
						if _, err := s.AuthenticateMQTT(b.Context(), h.id, []byte(h.secret)); err != nil {
							failed.Add(1)
							return
						}
						c := conn.Add(1)
						s.Presence().Connected(h.id, c, "127.0.0.1:1")
						s.HandleMessage(topics.HelloTopic(h.id), hellos[i], h.id, c)
						s.HandleMessage(topics.StatusTopic(h.id), statuses[i], h.id, c)
					})
				}
				wg.Wait()
				if failed.Load() > 0 {
					b.Fatalf("%d hosts failed to authenticate", failed.Load())
				}
				want := int64((it + 1) * n)
				deadline := time.Now().Add(time.Minute)
				for cmds.Load() < want {
					if time.Now().After(deadline) {
						b.Fatalf("%d run commands resent, want %d", cmds.Load(), want)
					}
					time.Sleep(time.Millisecond)
				}
				total += time.Since(start)
				close(stop)
				peak = max(peak, <-fds)
			}
			b.StopTimer()
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/storm")
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "hosts/s")
			b.ReportMetric(float64(peak), "peak-fds")
		})
	}
}

// BenchmarkAPIWriteDuringIngest is an API write (a host's tags, one
// transaction with its audit row) while agents stream job logs as fast as
// the writer takes them: jobs goroutines each publish log batches of
// lines lines. It reports the API write's p50, p99 and max latency and
// the log lines stored per second meanwhile (until the queue is drained); errors fail it ("database is
// locked" among them).
func BenchmarkAPIWriteDuringIngest(b *testing.B) {
	const jobs, lines, writes = 20, 50, 200
	// A queue of 256 (not 8,192): the writer is as busy, and what is
	// queued when the writes are done drains in a moment.
	s := servertest.MustOpenService(b, server.Options{Ingest: server.IngestOptions{QueueSize: 256}})
	s.SetPublisher(&servertest.Publisher{})
	servertest.RunInBackground(b, s)
	ctx := b.Context()
	f := newLogFlood(b, s, jobs, lines)
	for b.Loop() {
		before := f.stored(b)
		stop := f.start()
		lat := make([]time.Duration, 0, writes)
		start := time.Now()
		for i := range writes {
			t0 := time.Now()
			if _, err := s.SetHostTags(ctx, server.CLIActor(), f.host, []string{fmt.Sprintf("t%d", i)}); err != nil {
				stop()
				b.Fatalf("API write during ingest: %v", err)
			}
			lat = append(lat, time.Since(t0))
		}
		stop()
		if err := s.SyncIngest(ctx); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		b.ReportMetric(float64(f.stored(b)-before)/elapsed.Seconds(), "lines-stored/s")
	}
}
