package main

import (
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// TestAgentBudgetSendsAsTheAgentDoes pins --ingest-flush agent: a job
// writing 1,000 lines of 100 bytes a second sends a batch every 200 lines
// (agent/job_log.go counts each line's text plus 64 bytes against the
// 32 KiB batch), five a second as the lines come, not one burst of the
// second's lines; empty lines go 512 at a time (the overhead alone).
func TestAgentBudgetSendsAsTheAgentDoes(t *testing.T) {
	var b agentBudget
	var sentAt []int
	for i := 1; i <= 1000; i++ {
		if b.add(100) {
			sentAt = append(sentAt, i)
			b.sent()
		}
	}
	want := []int{200, 400, 600, 800, 1000}
	if len(sentAt) != len(want) {
		t.Fatalf("batches sent after lines %v, want %v", sentAt, want)
	}
	for i := range want {
		if sentAt[i] != want[i] {
			t.Fatalf("batches sent after lines %v, want %v", sentAt, want)
		}
	}
	b.sent()
	for i := 1; i <= topics.MaxLogBatchBytes/agentLineOverhead; i++ {
		if full := b.add(0); full != (i == 512) {
			t.Fatalf("an empty line %d: full %v", i, full)
		}
	}
}
