package topics

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestHAConfigs: every host gets one config per entity, each under the
// discovery prefix inside the monitor tree, with a unique id, the host's
// monitor state as state and availability topic, and its device.
func TestHAConfigs(t *testing.T) {
	h := RandomID(HostIDPrefix)
	configs := HAConfigs(HAHost{ID: h, Name: "office-pc", AgentVersion: "1.4.0"})
	if len(configs) != len(HAEntities) {
		t.Fatalf("%d configs for %d entities", len(configs), len(HAEntities))
	}
	seen := map[string]bool{}
	for topic, c := range configs {
		parsed, err := Parse(topic)
		if err != nil || parsed.Kind != KindMonitorHA || parsed.Host != h {
			t.Fatalf("config topic %q: %+v %v", topic, parsed, err)
		}
		if !strings.HasPrefix(topic, HADiscoveryPrefix+"/"+haComponent(parsed.Entity)+"/") || !strings.HasPrefix(topic, Prefix+"/monitor/") {
			t.Errorf("config topic %q outside the monitor tree or under the wrong component", topic)
		}
		b, err := EncodeHAConfig(c)
		if err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
		var raw map[string]any
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"unique_id", "name", "state_topic", "value_template", "availability_topic", "device"} {
			if raw[k] == nil || raw[k] == "" {
				t.Errorf("%s: no %s in %s", topic, k, b)
			}
		}
		if c.StateTopic != MonitorHostTopic(h) || c.AvailabilityTopic != MonitorHostTopic(h) {
			t.Errorf("%s: state %q availability %q", topic, c.StateTopic, c.AvailabilityTopic)
		}
		if seen[c.UniqueID] {
			t.Errorf("unique_id %q twice", c.UniqueID)
		}
		seen[c.UniqueID] = true
		if c.Device.Name != "office-pc" || c.Device.Model != "restic-manager agent" || c.Device.SWVersion != "1.4.0" ||
			len(c.Device.Identifiers) != 1 || !strings.Contains(c.Device.Identifiers[0], h) {
			t.Errorf("%s: device %+v", topic, c.Device)
		}
	}
	want := map[string]string{"last_backup": "timestamp", "last_status": "", "overdue": "problem", "online": "connectivity", "repository_size": "data_size"}
	for id, class := range want {
		c := configs[HAConfigTopic(h, id)]
		if c == nil || c.DeviceClass != class {
			t.Errorf("entity %s: %+v, want device_class %q", id, c, class)
		}
	}
	if c := configs[HAConfigTopic(h, "repository_size")]; c.UnitOfMeasurement != "B" {
		t.Errorf("repository size unit %q", c.UnitOfMeasurement)
	}
}

func TestHAConfigValidate(t *testing.T) {
	h := RandomID(HostIDPrefix)
	good := func() *HAConfig { return HAConfigs(HAHost{ID: h, Name: "n"})[HAConfigTopic(h, "online")] }
	cases := []struct {
		name string
		edit func(*HAConfig)
	}{
		{"no unique_id", func(c *HAConfig) { c.UniqueID = "" }},
		{"no device", func(c *HAConfig) { c.Device.Identifiers = nil }},
		{"state outside the monitor tree", func(c *HAConfig) { c.StateTopic = "homeassistant/sensor/x/state" }},
		{"state on a host's own topic", func(c *HAConfig) { c.StateTopic = CmdTopic(h) }},
		{"state on the events", func(c *HAConfig) { c.StateTopic = MonitorEventsTopic() }},
		{"availability outside", func(c *HAConfig) { c.AvailabilityTopic = "x/status" }},
		{"other availability payloads", func(c *HAConfig) { c.PayloadAvailable = "up" }},
		{"control characters in the name", func(c *HAConfig) { c.Device.Name = "a\nb" }},
	}
	if err := good().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		c := good()
		tc.edit(c)
		if _, err := EncodeHAConfig(c); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestHAConfigTopicParse(t *testing.T) {
	h := RandomID(HostIDPrefix)
	bad := []string{
		HADiscoveryPrefix + "/sensor/" + h + "/overdue/config",       // overdue is a binary_sensor
		HADiscoveryPrefix + "/sensor/" + h + "/nope/config",          // no such entity
		HADiscoveryPrefix + "/sensor/" + h + "/last_backup/state",    // not a config
		HADiscoveryPrefix + "/sensor/x/last_backup/config",           // not a host id
		HADiscoveryPrefix + "/sensor/" + h + "/last_backup/config/x", // a level too many
		HADiscoveryPrefix + "//" + h + "/nope/config",
		"homeassistant/sensor/" + h + "/last_backup/config",
	}
	for _, name := range bad {
		if tp, err := Parse(name); err == nil {
			t.Errorf("Parse(%q) = %+v", name, tp)
		}
	}
	if err := (Topic{Kind: KindMonitorHost, Host: h, Entity: "online"}).Validate(); err == nil {
		t.Error("an entity on a monitor host topic validated")
	}
	for _, e := range HAEntities {
		name := HAConfigTopic(h, e.ID)
		if tp, err := Parse(name); err != nil || tp != (Topic{Kind: KindMonitorHA, Host: h, Entity: e.ID}) {
			t.Errorf("Parse(%q) = %+v, %v", name, tp, err)
		}
	}
}

// TestMonitorHostStateHealthFields: what the Home Assistant templates read
// is always in the state; unknown values are JSON null (shown as unknown).
func TestMonitorHostStateHealthFields(t *testing.T) {
	h := RandomID(HostIDPrefix)
	st := &MonitorHostState{Envelope: NewEnvelope(TypeMonitorHost, h), Name: "n", Status: StateOffline}
	b, err := Encode(st)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"last_success_at", "repository_size_bytes"} {
		if string(raw[k]) != "null" {
			t.Errorf("%s = %s, want null", k, raw[k])
		}
	}
	if string(raw["overdue"]) != "false" || string(raw["online"]) != "false" {
		t.Errorf("overdue %s online %s", raw["overdue"], raw["online"])
	}
	at, size := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC), int64(1<<40)
	st.LastSuccessAt, st.Overdue, st.RepositorySizeBytes = &at, true, &size
	b, _ = Encode(st)
	var back MonitorHostState
	if err := Decode(b, &back); err != nil || !back.LastSuccessAt.Equal(at) || !back.Overdue || *back.RepositorySizeBytes != size {
		t.Errorf("round trip: %+v %v", back, err)
	}
}
