package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/agenttest"
)

// BenchmarkDownload1GiB streams a 1 GiB file (sparse: zeros, which restic
// stores in a few blobs, so the backup is quick and the dump is all
// streaming) from a real agent's `restic dump` through the real server
// binary to a client, and reports the server process's RSS growth over
// its RSS before the download (target: under 64 MiB, whatever the size:
// the server holds two 32 KiB buffers per download) and the throughput.
// RM_BENCH_DATA_MIB shrinks the file for a quick look.
func BenchmarkDownload1GiB(b *testing.B) {
	size := int64(1 << 30)
	if v, err := strconv.Atoi(os.Getenv("RM_BENCH_DATA_MIB")); err == nil && v > 0 {
		size = int64(v) << 20
	}
	e := newBenchEnv(b, agenttest.RequireBinary(b, "restic"))
	src := filepath.Join(e.dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(src, "big.img")
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		b.Fatal(err)
	}
	f.Close()
	e.setRepository(filepath.Join(e.dir, "repo"), "bench repository password")
	if j := e.wait(e.run(map[string]any{"kind": "backup", "paths": []string{src}}), 10*time.Minute, 200*time.Millisecond); j.Status != "succeeded" {
		b.Fatalf("backup: %+v", j)
	}
	pid := e.srv.cmd.Process.Pid
	u := e.srv.webURL + "/api/v1/hosts/" + e.hostID + "/snapshots/latest/download?" + url.Values{"path": {file}}.Encode()

	var growth int64
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		before := downloadRSS(b, pid)
		peak := watchRSS(b, pid)
		n := fetchZeros(b, u, e.api.token)
		if top := peak() - before; top > growth {
			growth = top
		}
		if n != size {
			b.Fatalf("downloaded %d bytes, want %d", n, size)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(growth)/(1<<20), "MiB-rss-growth")
	b.ReportMetric(float64(size)*float64(b.N)/(1<<20)/elapsed.Seconds(), "MiB/s")
	if growth > 64<<20 {
		b.Errorf("the server's RSS grew by %.1f MiB during a %d MiB download; the target is under 64 MiB", float64(growth)/(1<<20), size>>20)
	}
}

// fetchZeros downloads u and checks every byte is zero; it returns the
// byte count.
func fetchZeros(b *testing.B, u, token string) int64 {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		b.Fatalf("download: HTTP %d: %s", res.StatusCode, msg)
	}
	buf, zeros := make([]byte, 256<<10), make([]byte, 256<<10)
	var n int64
	for {
		k, err := res.Body.Read(buf)
		if !bytes.Equal(buf[:k], zeros[:k]) {
			b.Fatalf("non-zero byte near offset %d", n)
		}
		n += int64(k)
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatalf("download broke after %d bytes: %v", n, err)
		}
	}
}

// watchRSS samples a process's RSS every 20 ms until the returned function
// is called, which returns the highest sample.
func watchRSS(b *testing.B, pid int) (peak func() int64) {
	var mu sync.Mutex
	var top int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if r := downloadRSS(b, pid); r > 0 {
				mu.Lock()
				top = max(top, r)
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return top
	}
}

// downloadRSS is a process's resident set size (VmRSS in /proc), 0 if unknown.
func downloadRSS(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
