package server_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// TestSnapshotListShape: the snapshot list the UI and the JSON API show
// (server.SnapshotList, marshalled as it is) has every field of every
// snapshot, even one restic 0.14 reported (no sizes) without tags, host
// or user, and its times are UTC.
func TestSnapshotListShape(t *testing.T) {
	f := newJobsFixture(t)
	berlin := time.FixedZone("CET", 3600)
	bare := topics.SnapshotInfo{ID: fmt.Sprintf("%064x", 1), Time: time.Date(2026, 2, 1, 4, 0, 0, 0, berlin), Paths: []string{"/etc"}}
	full := topics.SnapshotInfo{ID: fmt.Sprintf("%064x", 2), Time: time.Date(2026, 2, 2, 4, 0, 0, 0, time.UTC),
		Hostname: "web-1", Username: "root", Paths: []string{"/home"}, Tags: []string{"daily"}, Parent: fmt.Sprintf("%064x", 1),
		DataAdded: 10, TotalFilesProcessed: 2, TotalBytesProcessed: 30}
	f.agent.Snapshots(t, "rep-1", 1, 1, time.Date(2026, 2, 2, 6, 0, 0, 0, berlin), bare, full)
	f.agent.Sync(t)
	list, err := f.s.Snapshots(t.Context(), f.host)
	if err != nil || len(list.Snapshots) != 2 {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if list.ReportedAt.Location() != time.UTC || list.Snapshots[1].Time.Location() != time.UTC {
		t.Errorf("times not UTC: reported %v, snapshot %v", list.ReportedAt, list.Snapshots[1].Time)
	}
	data, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	var shape struct {
		HostID     string           `json:"host_id"`
		ReportedAt *time.Time       `json:"reported_at"`
		Snapshots  []map[string]any `json:"snapshots"`
	}
	if err := json.Unmarshal(data, &shape); err != nil || shape.HostID != f.host || shape.ReportedAt == nil {
		t.Fatalf("list JSON %s: %v", data, err)
	}
	want := []string{"data_added", "hostname", "id", "paths", "short_id", "tags", "time", "total_bytes_processed",
		"total_files_processed", "username"}
	for i, sn := range shape.Snapshots {
		var keys []string
		for k := range sn {
			if k != "parent" {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Errorf("snapshot %d has fields %v, want %v", i, keys, want)
		}
		if tags, ok := sn["tags"].([]any); !ok || (i == 1 && len(tags) != 0) {
			t.Errorf("snapshot %d tags = %#v, want a list", i, sn["tags"])
		}
	}
	if shape.Snapshots[0]["short_id"] != "00000000" || shape.Snapshots[0]["parent"] != fmt.Sprintf("%064x", 1) {
		t.Errorf("newest snapshot: %v", shape.Snapshots[0])
	}
	if _, ok := shape.Snapshots[1]["parent"]; ok {
		t.Errorf("a snapshot without parent shows one: %v", shape.Snapshots[1])
	}
}
