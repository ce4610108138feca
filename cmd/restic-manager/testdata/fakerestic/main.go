// Command fakerestic stands in for restic in the log-pipeline benchmark: it
// answers the calls the agent makes and, for `backup`, prints plain lines
// at a fixed rate for a fixed time, then a JSON summary. The rate and the
// time come from fake-restic.json in the directory being backed up, e.g.
// {"lines_per_sec": 5000, "seconds": 30}. Each line carries its send time
// (t=<unix ns>) so the benchmark can measure how long it takes to show up.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

const snapshotID = "5e1f0c0ffee5e1f0c0ffee5e1f0c0ffee5e1f0c0ffee5e1f0c0ffee5e1f0c0ff"

func main() {
	if len(os.Args) < 2 {
		os.Exit(1)
	}
	switch os.Args[1] {
	case "version":
		fmt.Println("restic 0.18.1 compiled with go1.26 on linux/amd64")
	case "init":
		fmt.Printf(`{"message_type":"initialized","id":"%s","repository":"fake"}`+"\n", snapshotID)
	case "snapshots":
		fmt.Println("[]")
	case "backup":
		backup(os.Args[len(os.Args)-1])
	}
}

func backup(dir string) {
	var cfg struct {
		LinesPerSec int     `json:"lines_per_sec"`
		Seconds     float64 `json:"seconds"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "fake-restic.json"))
	if err != nil || json.Unmarshal(data, &cfg) != nil || cfg.LinesPerSec <= 0 {
		fmt.Fprintln(os.Stderr, "fakerestic: no fake-restic.json in", dir)
		os.Exit(1)
	}
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	start := time.Now()
	total := int(float64(cfg.LinesPerSec) * cfg.Seconds)
	tick := 10 * time.Millisecond
	perTick := max(cfg.LinesPerSec/100, 1)
	n := 0
	for n < total {
		for i := 0; i < perTick && n < total; i++ {
			n++
			fmt.Fprintf(out, "line %d t=%d\n", n, time.Now().UnixNano())
		}
		out.Flush()
		next := start.Add(time.Duration(n/perTick) * tick)
		time.Sleep(time.Until(next))
	}
	fmt.Fprintf(out, `{"message_type":"summary","snapshot_id":"%s","files_new":1,"total_files_processed":1,"total_duration":%f}`+"\n",
		snapshotID, time.Since(start).Seconds())
	out.Flush()
}
