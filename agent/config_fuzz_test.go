package agent

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadConfig feeds arbitrary bytes as the config file: LoadConfig must
// return a config that validates or an error, never panic, and whatever it
// accepts must survive a save and a reload unchanged.
func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte("host_id: h_abcdefghijklmnopqrstuvwxyz\nmqtt_url: mqtt://127.0.0.1:1883\nmqtt_password: pw\nstate_dir: state\nrestic_binary: restic\n"))
	f.Add([]byte("host_id: [1, 2]\n"))
	f.Add([]byte("heartbeat_interval: forever\n"))
	f.Add([]byte("&a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "agent.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadConfig(path)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("LoadConfig returned a config that fails Validate: %v", err)
		}
		again := filepath.Join(dir, "again.yaml")
		if err := c.SaveConfig(again); err != nil {
			t.Fatalf("save an accepted config: %v", err)
		}
		c2, err := LoadConfig(again)
		if err != nil {
			t.Fatalf("reload a saved config: %v", err)
		}
		if c2.HostID != c.HostID || c2.MQTTURL != c.MQTTURL || c2.MQTTPassword != c.MQTTPassword || c2.StateDir != c.StateDir {
			t.Fatalf("round trip changed the config: %v -> %v", c, c2)
		}
	})
}
