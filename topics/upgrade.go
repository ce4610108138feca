package topics

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Fleet upgrade (#11). In short:
//
//   - The server sends an Upgrade on the host's down/cmd (QoS 1) while the
//     host is online, and again after every hello until the agent reports
//     an outcome for it. Its envelope id is the upgrade's id; resends keep it.
//   - The agent downloads the binary from Path (relative to its server URL,
//     over its pinned TLS), checks Size and SHA256, waits until no job runs,
//     swaps its executable and restarts. The new binary's hello carries the
//     new agent_version: that is the proof the server trusts.
//   - Every step the server shows is an UpgradeReport on up/upgrade: received
//     (delivered), refused or failed before the swap (failed), rolled back
//     after it (rolled_back), and done. The last report is sent again after
//     each hello until a newer upgrade replaces it; the server applies a
//     report only to the upgrade it names and never moves a finished one.

// Message types of the upgrade protocol.
const (
	TypeUpgrade       = "upgrade"        // server → agent, on down/cmd
	TypeUpgradeReport = "upgrade.report" // agent → server, on up/upgrade
)

// MaxAgentBinary bounds the size of an agent binary an upgrade may carry.
const MaxAgentBinary = 512 << 20

// AgentBinaryPath is where the server serves the agent binary of a platform;
// an Upgrade's Path is this with the os and arch of the host.
const AgentBinaryPath = "/agent/binary"

// AgentBinaryPathFor is the download path of the agent binary for goos/goarch.
func AgentBinaryPathFor(goos, goarch string) string {
	return AgentBinaryPath + "?" + url.Values{"os": {goos}, "arch": {goarch}}.Encode()
}

// Upgrade asks an agent to replace itself with the binary at Path.
type Upgrade struct {
	Envelope
	// Version is the agent version the binary reports (its hello will say it).
	Version string `json:"version"`
	// SHA256 is the binary's checksum, 64 lowercase hex digits.
	SHA256 string `json:"sha256"`
	// Size is the binary's length in bytes.
	Size int64 `json:"size"`
	// Path is the download path, relative to the agent's server URL
	// (AgentBinaryPathFor of the host's platform).
	Path string `json:"path"`
}

// Validate checks the header and the body of an upgrade command.
func (m *Upgrade) Validate() error {
	if err := m.Envelope.Validate(TypeUpgrade); err != nil {
		return err
	}
	if err := CheckAgentVersion(m.Version); err != nil {
		return err
	}
	if !ValidSHA256Hex(m.SHA256) {
		return errors.New("upgrade sha256 must be 64 lowercase hex digits")
	}
	if m.Size < 1 || m.Size > MaxAgentBinary {
		return fmt.Errorf("upgrade size %d out of range (1 to %d bytes)", m.Size, MaxAgentBinary)
	}
	return checkBinaryPath(m.Path)
}

// checkBinaryPath accepts only a path on the server itself: it must start
// with AgentBinaryPath and can name no other host, scheme or fragment.
func checkBinaryPath(p string) error {
	if len(p) > 512 || !strings.HasPrefix(p, AgentBinaryPath) {
		return fmt.Errorf("upgrade path %q is not under %s", clip(p), AgentBinaryPath)
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Fragment != "" || u.Path != AgentBinaryPath || strings.Contains(p, "\\") {
		return fmt.Errorf("upgrade path %q is not a path on the server", clip(p))
	}
	return nil
}

// CheckAgentVersion checks an agent version string: 1 to 64 printable
// ASCII characters without spaces (a tag like v1.4.0 or git describe output).
func CheckAgentVersion(v string) error {
	if v == "" || len(v) > 64 {
		return fmt.Errorf("agent version %q must be 1 to 64 characters", clip(v))
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= 0x20 || c >= 0x7f {
			return fmt.Errorf("agent version %q has a space or a control or non-ASCII character", clip(v))
		}
	}
	return nil
}

// ValidSHA256Hex reports whether s is a SHA-256 checksum in lowercase hex
// (64 digits; the same alphabet as a full restic id).
func ValidSHA256Hex(s string) bool { return len(s) == 64 && ValidResticID(s) }

// Upgrade states, as the agent reports them and the server shows them.
// "requested" exists only on the server (no report yet).
const (
	UpgradeRequested  = "requested"
	UpgradeDelivered  = "delivered"   // the agent has the command and works on it
	UpgradeFailed     = "failed"      // refused or failed before the swap; the old binary runs
	UpgradeRolledBack = "rolled_back" // the new binary did not come up; the old one is back
	UpgradeDone       = "done"        // the new binary runs and said hello
)

// UpgradeTerminal reports whether an upgrade in state s is over.
func UpgradeTerminal(s string) bool {
	return s == UpgradeFailed || s == UpgradeRolledBack || s == UpgradeDone
}

// UpgradeReport is how an upgrade goes, sent by the agent on
// rm/v1/hosts/{h}/up/upgrade (QoS 1).
type UpgradeReport struct {
	Envelope
	// Upgrade is the envelope id of the Upgrade command it answers.
	Upgrade string `json:"upgrade"`
	State   string `json:"state"`
	// From is the version that received the command, To the one it asked for.
	From string `json:"from"`
	To   string `json:"to"`
	// Reason says in one sentence why it failed or was rolled back.
	Reason string `json:"reason,omitempty"`
}

// Validate checks the header and the body of an upgrade report.
func (m *UpgradeReport) Validate() error {
	if err := m.Envelope.Validate(TypeUpgradeReport); err != nil {
		return err
	}
	if m.Host == "" {
		return errors.New("upgrade report without host")
	}
	if m.Upgrade == "" || len(m.Upgrade) > 64 {
		return errors.New("upgrade report without the upgrade's id")
	}
	switch m.State {
	case UpgradeDelivered, UpgradeFailed, UpgradeRolledBack, UpgradeDone:
	default:
		return fmt.Errorf("unknown upgrade state %q", clip(m.State))
	}
	if err := CheckAgentVersion(m.From); err != nil {
		return err
	}
	if err := CheckAgentVersion(m.To); err != nil {
		return err
	}
	if len(m.Reason) > 1024 || !utf8.ValidString(m.Reason) {
		return errors.New("upgrade reason longer than 1024 bytes or not UTF-8")
	}
	if (m.State == UpgradeFailed || m.State == UpgradeRolledBack) && m.Reason == "" {
		return errors.New("a failed or rolled back upgrade must say why")
	}
	return nil
}
