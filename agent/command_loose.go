package agent

import (
	"bytes"
	"encoding/json"

	"github.com/restic-manager/restic-manager/topics"
)

// looseRunCommand reads the header of a run command that failed full
// validation: its envelope, action, job id and version, ignoring the spec.
// It returns ok only for a well-formed run command of this host, so that
// the agent can answer "failed" for a job it cannot read instead of
// leaving the server to resend it forever. The result carries no spec.
func looseRunCommand(payload []byte, host string) (*topics.Command, bool) {
	if len(payload) > topics.MaxPayload {
		return nil, false
	}
	var head struct {
		topics.Envelope
		Action  string `json:"action"`
		Job     string `json:"job"`
		Version int64  `json:"version"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if dec.Decode(&head) != nil || dec.More() {
		return nil, false
	}
	if head.Envelope.Validate(topics.TypeCmd) != nil || head.Host != host || head.Action != topics.CmdRun ||
		!topics.ValidJobID(head.Job) || head.Version < 1 {
		return nil, false
	}
	return &topics.Command{Envelope: head.Envelope, Action: head.Action, Job: head.Job, Version: head.Version}, true
}
