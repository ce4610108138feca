package topics

import (
	"errors"
	"fmt"
	"time"
)

// Hello is sent by an agent on every connect (rm/v1/hosts/{h}/up/hello, QoS 1).
type Hello struct {
	Envelope
	AgentVersion  string `json:"agent_version"`
	ResticVersion string `json:"restic_version,omitempty"` // empty when restic is missing
	OS            string `json:"os"`
	Arch          string `json:"arch"`
	Hostname      string `json:"hostname"`
	// BootID changes every time the agent process starts.
	BootID string `json:"boot_id"`
	// ConnGen counts this agent's connections; it grows across restarts.
	ConnGen uint64 `json:"conn_gen"`
	// ConfigVersion is the desired-config version the agent has applied (0: none).
	ConfigVersion int64 `json:"config_version"`
	// Jobs lists the job IDs the agent knows about and has not finished reporting.
	Jobs []string `json:"jobs,omitempty"`
	// OutboxHigh is the highest outbox sequence number the agent has written.
	OutboxHigh uint64 `json:"outbox_high"`
}

// Validate checks the header and the body of a hello.
func (m *Hello) Validate() error {
	if err := m.Envelope.Validate(TypeHello); err != nil {
		return err
	}
	if m.Host == "" {
		return errors.New("hello without host")
	}
	if err := shortText(map[string]string{"agent_version": m.AgentVersion, "os": m.OS, "arch": m.Arch,
		"boot_id": m.BootID}, true); err != nil {
		return err
	}
	if err := shortText(map[string]string{"restic_version": m.ResticVersion, "hostname": m.Hostname}, false); err != nil {
		return err
	}
	if m.ConfigVersion < 0 {
		return errors.New("negative config_version")
	}
	if len(m.Jobs) > 1000 {
		return errors.New("too many jobs listed")
	}
	for _, j := range m.Jobs {
		if !ValidID(j) {
			return fmt.Errorf("invalid job id %q", clip(j))
		}
	}
	return nil
}

// Host states carried by Status.
const (
	StateOnline  = "online"
	StateOffline = "offline"
)

// Status is the heartbeat (state "online") and, with state "offline", the Last
// Will an agent registers at CONNECT (rm/v1/hosts/{h}/up/status, QoS 0).
type Status struct {
	Envelope
	State   string `json:"state"`
	BootID  string `json:"boot_id"`
	ConnGen uint64 `json:"conn_gen"`
	// UptimeSeconds is how long the agent process has run.
	UptimeSeconds int64 `json:"uptime_s,omitempty"`
	// Running lists job IDs running right now.
	Running []string `json:"running,omitempty"`
	// ConfigVersion is the desired-config version the agent has applied;
	// the agent sends a status right after applying a new config.
	ConfigVersion int64 `json:"config_version,omitempty"`
}

// Validate checks the header and the body of a status message.
func (m *Status) Validate() error {
	if err := m.Envelope.Validate(TypeStatus); err != nil {
		return err
	}
	if m.Host == "" {
		return errors.New("status without host")
	}
	if m.State != StateOnline && m.State != StateOffline {
		return fmt.Errorf("unknown state %q", clip(m.State))
	}
	if err := shortText(map[string]string{"boot_id": m.BootID}, true); err != nil {
		return err
	}
	if m.UptimeSeconds < 0 {
		return errors.New("negative uptime")
	}
	if m.ConfigVersion < 0 {
		return errors.New("negative config_version")
	}
	if len(m.Running) > 100 {
		return errors.New("too many running jobs listed")
	}
	for _, j := range m.Running {
		if !ValidID(j) {
			return fmt.Errorf("invalid job id %q", clip(j))
		}
	}
	return nil
}

// MonitorHostState is the retained message on rm/v1/monitor/hosts/{h} for
// MQTT monitoring tools (Home Assistant, Node-RED, scripts).
type MonitorHostState struct {
	Envelope
	Name       string     `json:"name"`
	Online     bool       `json:"online"`
	LastSeen   *time.Time `json:"last_seen,omitempty"`
	LastBackup *time.Time `json:"last_backup,omitempty"`
	// LastBackupStatus is the state of the host's newest backup job
	// (succeeded, warning, failed, running, ...; empty: none yet), and
	// LastBackup when it finished (or was queued, while it has not).
	LastBackupStatus string `json:"last_backup_status,omitempty"`
	LastBackupJob    int64  `json:"last_backup_job,omitempty"`
	// Status is one word: online or offline.
	Status string `json:"status"`
	// LastSuccessAt is when the host's newest backup that made a snapshot
	// (succeeded or warning) finished, Overdue whether that is older than
	// the host's expected interval, RepositorySizeBytes what its
	// repository stores (restic stats, raw data) (#13). null: not known.
	LastSuccessAt       *time.Time `json:"last_success_at"`
	Overdue             bool       `json:"overdue"`
	RepositorySizeBytes *int64     `json:"repository_size_bytes"`
}

// Validate checks a monitor host state.
func (m *MonitorHostState) Validate() error {
	if err := m.Envelope.Validate(TypeMonitorHost); err != nil {
		return err
	}
	if m.Host == "" {
		return errors.New("monitor state without host")
	}
	return shortText(map[string]string{"name": m.Name, "status": m.Status}, true)
}

// MonitorEvent is a non-retained fleet event on rm/v1/monitor/events.
type MonitorEvent struct {
	Envelope
	Event string `json:"event"` // "host.online", "host.offline", "job.finished"
	Name  string `json:"name"`
	// For "job.finished": the job's number (as people see it), its kind
	// and its terminal state.
	Job    int64  `json:"job,omitempty"`
	Kind   string `json:"kind,omitempty"`
	Status string `json:"status,omitempty"`
}

// Validate checks a monitor event.
func (m *MonitorEvent) Validate() error {
	if err := m.Envelope.Validate(TypeMonitorEvt); err != nil {
		return err
	}
	if m.Job < 0 {
		return errors.New("negative job number")
	}
	if err := shortText(map[string]string{"kind": m.Kind, "status": m.Status}, false); err != nil {
		return err
	}
	return shortText(map[string]string{"event": m.Event}, true)
}

// maxShort bounds free-text identification fields (versions, hostnames, ids).
const maxShort = 255

func shortText(fields map[string]string, required bool) error {
	for name, v := range fields {
		if required && v == "" {
			return fmt.Errorf("missing %s", name)
		}
		if len(v) > maxShort {
			return fmt.Errorf("%s longer than %d bytes", name, maxShort)
		}
		for _, r := range v {
			if r < 0x20 || r == 0x7f {
				return fmt.Errorf("%s contains control characters", name)
			}
		}
	}
	return nil
}
