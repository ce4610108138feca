package agent

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/restic-manager/restic-manager/topics"
)

// Defaults applied by LoadConfig and Enroll when a field is empty.
const (
	DefaultResticBinary      = "restic"
	DefaultHeartbeatInterval = 30 * time.Second
	DefaultLogLevel          = "info"
)

// Bounds for heartbeat_interval: below a second floods the broker, above an
// hour makes the dashboard's "last seen" meaningless.
const (
	minHeartbeat = time.Second
	maxHeartbeat = time.Hour
)

// Bounds for reconnect_backoff_max: the backoff starts at
// DefaultBackoffInitial, so a smaller cap means nothing; past an hour a host
// whose server came back stays away longer than anyone would wait.
const (
	minReconnectBackoffMax = DefaultBackoffInitial
	maxReconnectBackoffMax = time.Hour
)

// durationFields are the config's durations by name: the YAML decoder
// reports a bad duration without saying whose it is (badDurationField).
var durationFields = []string{"heartbeat_interval", "reconnect_backoff_max"}

// maxConfigSize bounds the config file we read; a real one is a few KB.
const maxConfigSize = 1 << 20

// Config is the agent's configuration file (YAML), written by `enroll` and
// read by `run`. Relative paths in it are relative to the file's directory.
// It holds the MQTT password, so it is written with mode 0600 and String and
// LogValue redact the secret.
type Config struct {
	// HostID is this host's identity: MQTT username and client ID (h_...).
	HostID string `yaml:"host_id"`
	// MQTTURL is the broker address: mqtts://host:port (or ssl://) for TLS,
	// mqtt:// or tcp:// for plain TCP (a warning is logged).
	MQTTURL string `yaml:"mqtt_url"`
	// MQTTPassword is the host's MQTT secret. Never logged.
	MQTTPassword string `yaml:"mqtt_password"`
	// StateDir holds the agent's durable state (connection generation, later
	// the outbox and the command journal).
	StateDir string `yaml:"state_dir"`
	// ResticBinary is the restic executable, a path or a name looked up in PATH.
	ResticBinary string `yaml:"restic_binary"`
	// ServerURL is the server's HTTPS base URL (used by enroll and for links).
	ServerURL string `yaml:"server_url,omitempty"`
	// CACert is the PEM of the server's CA, the only root trusted for MQTT TLS.
	CACert string `yaml:"ca_cert,omitempty"`
	// CAFingerprint is "SHA256:" + base64 of sha256(CA DER), as pinned at enroll.
	CAFingerprint string `yaml:"ca_fingerprint,omitempty"`
	// HeartbeatInterval is how often an "online" status is published.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval,omitempty"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level,omitempty"`
	// ReconnectBackoffMax caps the wait between reconnect attempts after
	// the broker became unreachable (the waits double from a second up to
	// it); zero means DefaultBackoffMax. A shorter cap brings a host on a
	// flaky link back sooner after each outage, a longer one spares a
	// server that many hosts try to reach.
	ReconnectBackoffMax time.Duration `yaml:"reconnect_backoff_max,omitempty"`
}

// LoadConfig reads, defaults and validates the config file at path.
// Unknown fields are an error, so a misspelt setting is not silently ignored.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config %s does not exist: enroll this host first (restic-manager-agent enroll --server URL --token T --config %s)", path, path)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(ioLimit(f, maxConfigSize+1)); err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	if buf.Len() > maxConfigSize {
		return nil, fmt.Errorf("config %s is larger than %d bytes: is it the right file?", path, maxConfigSize)
	}
	var c Config
	if err := yaml.UnmarshalWithOptions(buf.Bytes(), &c, yaml.Strict()); err != nil {
		// The YAML decoder reports a bad duration without naming the field.
		if strings.Contains(err.Error(), "time: ") {
			return nil, fmt.Errorf("config %s: %s: %v: use a duration such as 30s or 1m", path, badDurationField(buf.Bytes()), err)
		}
		return nil, fmt.Errorf("config %s is not valid YAML for this agent: %w", path, err)
	}
	c.applyDefaults()
	if c.StateDir != "" && !filepath.IsAbs(c.StateDir) {
		c.StateDir = filepath.Join(filepath.Dir(path), c.StateDir)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &c, nil
}

// badDurationField names the first duration field of a config file whose
// value is not a duration ("a duration field" if none is found).
func badDurationField(data []byte) string {
	var raw map[string]any
	if yaml.Unmarshal(data, &raw) == nil {
		for _, k := range durationFields {
			if s, ok := raw[k].(string); ok {
				if _, err := time.ParseDuration(s); err != nil {
					return k
				}
			}
		}
	}
	return "a duration field"
}

// applyDefaults fills the optional fields that are empty.
func (c *Config) applyDefaults() {
	if c.ResticBinary == "" {
		c.ResticBinary = DefaultResticBinary
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
}

// Validate checks every field and returns the first problem as a sentence
// that names the field and says what to do. Empty optional fields get their
// defaults first.
func (c *Config) Validate() error {
	c.applyDefaults()
	if !topics.ValidHostID(c.HostID) {
		return fmt.Errorf("host_id %q is not a host id (h_ followed by lowercase letters and digits): re-enroll the host or restore the file", clipText(c.HostID))
	}
	u, err := c.brokerURL()
	if err != nil {
		return err
	}
	if c.MQTTPassword == "" {
		return errors.New("mqtt_password is empty: re-enroll the host to get a new secret")
	}
	if len(c.MQTTPassword) > 1024 || strings.ContainsAny(c.MQTTPassword, "\r\n\x00") {
		return errors.New("mqtt_password is malformed (too long or contains line breaks): re-enroll the host")
	}
	if c.StateDir == "" {
		return fmt.Errorf("state_dir is empty: set it to a directory the agent may write, e.g. %s", DefaultStateDir())
	}
	if strings.TrimSpace(c.ResticBinary) != c.ResticBinary {
		return errors.New("restic_binary has leading or trailing spaces: remove them")
	}
	if c.ServerURL != "" {
		if su, err := url.Parse(c.ServerURL); err != nil || (su.Scheme != "https" && su.Scheme != "http") || su.Host == "" {
			return fmt.Errorf("server_url %q is not an http(s) URL: use e.g. https://backup.example.com", clipText(c.ServerURL))
		}
	}
	if err := c.validateCA(u); err != nil {
		return err
	}
	if c.HeartbeatInterval < minHeartbeat || c.HeartbeatInterval > maxHeartbeat {
		return fmt.Errorf("heartbeat_interval %s is out of range: use a duration between %s and %s, e.g. 30s", c.HeartbeatInterval, minHeartbeat, maxHeartbeat)
	}
	if c.ReconnectBackoffMax != 0 && (c.ReconnectBackoffMax < minReconnectBackoffMax || c.ReconnectBackoffMax > maxReconnectBackoffMax) {
		return fmt.Errorf("reconnect_backoff_max %s is out of range: use a duration between %s and %s, e.g. 30s, or leave it out for the default (%s)",
			c.ReconnectBackoffMax, minReconnectBackoffMax, maxReconnectBackoffMax, DefaultBackoffMax)
	}
	if _, err := ParseLogLevel(c.LogLevel); err != nil {
		return err
	}
	return nil
}

// validateCA checks ca_cert and ca_fingerprint against each other and
// against the broker URL's need for TLS.
func (c *Config) validateCA(u *url.URL) error {
	if isTLSScheme(u.Scheme) && c.CACert == "" {
		return fmt.Errorf("ca_cert is empty but mqtt_url %s uses TLS: paste the server's CA certificate (PEM) into ca_cert, or re-enroll", u.Redacted())
	}
	if c.CACert == "" {
		if c.CAFingerprint != "" {
			return errors.New("ca_fingerprint is set but ca_cert is empty: add the CA certificate or remove the fingerprint")
		}
		return nil
	}
	ca, err := ParseCACert([]byte(c.CACert))
	if err != nil {
		return fmt.Errorf("ca_cert: %w", err)
	}
	if c.CAFingerprint != "" {
		if err := CheckFingerprint(ca, c.CAFingerprint); err != nil {
			return fmt.Errorf("ca_fingerprint does not match ca_cert (%w): the file was edited or corrupted; re-enroll the host", err)
		}
	}
	return nil
}

// BrokerURL returns mqtt_url parsed, with the default port filled in when
// the file omits it (1883 plain, 8883 TLS).
func (c *Config) BrokerURL() (*url.URL, error) { return c.brokerURL() }

func (c *Config) brokerURL() (*url.URL, error) {
	u, err := url.Parse(c.MQTTURL)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("mqtt_url %q is not a broker address: use mqtts://host:8883", clipText(c.MQTTURL))
	}
	switch u.Scheme {
	case "mqtt", "tcp", "mqtts", "ssl":
	default:
		return nil, fmt.Errorf("mqtt_url scheme %q is not supported: use mqtts:// (or ssl://) for TLS, mqtt:// (or tcp://) for plain TCP", clipText(u.Scheme))
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, errors.New("mqtt_url must be scheme://host:port only: credentials go in mqtt_password, not the URL")
	}
	if u.Port() == "" {
		port := "1883"
		if isTLSScheme(u.Scheme) {
			port = "8883"
		}
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	u.Path = ""
	return u, nil
}

func isTLSScheme(s string) bool { return s == "mqtts" || s == "ssl" }

// ParseLogLevel maps log_level to a slog level.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log_level %q is unknown: use debug, info, warn or error", clipText(s))
}

// SaveConfig validates c and writes it to path atomically (temporary file,
// fsync, rename) with mode 0600. A missing directory is created with 0700.
func (c *Config) SaveConfig(path string) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	data, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("save config: encode: %w", err)
	}
	header := "# restic-manager agent configuration, written by `restic-manager-agent enroll` or `announce`.\n" +
		"# It contains this host's MQTT secret: keep it readable by the agent only (0600).\n"
	if err := writeFileAtomic(path, append([]byte(header), data...), 0o600); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

// String describes the config for humans with the password redacted.
func (c Config) String() string {
	return fmt.Sprintf("host_id=%s mqtt_url=%s mqtt_password=%s state_dir=%s restic_binary=%s server_url=%s ca_fingerprint=%s heartbeat_interval=%s log_level=%s reconnect_backoff_max=%s",
		c.HostID, c.MQTTURL, redacted(c.MQTTPassword), c.StateDir, c.ResticBinary, c.ServerURL, c.CAFingerprint, c.HeartbeatInterval, c.LogLevel, c.reconnectBackoffMax())
}

// LogValue makes slog print the config without its secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host_id", c.HostID),
		slog.String("mqtt_url", c.MQTTURL),
		slog.String("mqtt_password", redacted(c.MQTTPassword)),
		slog.String("state_dir", c.StateDir),
		slog.String("restic_binary", c.ResticBinary),
		slog.String("ca_fingerprint", c.CAFingerprint),
		slog.Duration("heartbeat_interval", c.HeartbeatInterval),
		slog.Duration("reconnect_backoff_max", c.reconnectBackoffMax()),
	)
}

// reconnectBackoffMax is reconnect_backoff_max, or its default when unset.
func (c Config) reconnectBackoffMax() time.Duration {
	return cmp.Or(c.ReconnectBackoffMax, DefaultBackoffMax)
}

// GoString keeps %#v from printing the secret too.
func (c Config) GoString() string { return "agent.Config{" + c.String() + "}" }

func redacted(secret string) string {
	if secret == "" {
		return "(empty)"
	}
	return "(redacted)"
}
