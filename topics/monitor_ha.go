package topics

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Home Assistant MQTT discovery on the monitor feed (#13). Home Assistant
// reads a retained config per entity under its discovery prefix
// (<prefix>/<component>/<node_id>/<object_id>/config) and then follows the
// state topic the config names. Monitor accounts may read only
// rm/v1/monitor/#, so the configs live under HADiscoveryPrefix, which an
// admin sets as Home Assistant's discovery prefix, and every state and
// availability topic is the host's retained monitor state
// (MonitorHostTopic). A config is Home Assistant's JSON, not an envelope.

// HADiscoveryPrefix is the discovery prefix the server publishes under: the
// value of Home Assistant's "discovery prefix" option.
const HADiscoveryPrefix = Prefix + "/monitor/homeassistant"

// HADiscoveryFilters are the filters Home Assistant subscribes to under
// HADiscoveryPrefix (with and without a node id), plus the whole subtree:
// the filters a monitor account may use for discovery.
func HADiscoveryFilters() []string {
	return []string{HADiscoveryPrefix + "/#", HADiscoveryPrefix + "/+/+/config", HADiscoveryPrefix + "/+/+/+/config"}
}

// HAEntity is one Home Assistant entity of a host: its object id (the
// topic's last level before config) and how it reads the host's state.
type HAEntity struct {
	ID                string // object id: last_backup, last_status, ...
	Component         string // sensor or binary_sensor
	Name              string
	DeviceClass       string
	Unit              string
	StateClass        string
	ValueTemplate     string
	EntityCategoryDia bool // a diagnostic entity
}

// HAEntities are the entities every host has, read from MonitorHostState.
// A JSON null renders as "None", which Home Assistant shows as unknown.
var HAEntities = []HAEntity{
	{ID: "last_backup", Component: "sensor", Name: "Last successful backup", DeviceClass: "timestamp",
		ValueTemplate: "{{ value_json.last_success_at }}"},
	{ID: "last_status", Component: "sensor", Name: "Last backup status",
		ValueTemplate: "{{ value_json.last_backup_status | default('None') }}"},
	{ID: "overdue", Component: "binary_sensor", Name: "Backup overdue", DeviceClass: "problem",
		ValueTemplate: "{{ 'ON' if value_json.overdue else 'OFF' }}"},
	{ID: "online", Component: "binary_sensor", Name: "Online", DeviceClass: "connectivity",
		ValueTemplate: "{{ 'ON' if value_json.online else 'OFF' }}"},
	{ID: "repository_size", Component: "sensor", Name: "Repository size", DeviceClass: "data_size", Unit: "B",
		StateClass: "measurement", ValueTemplate: "{{ value_json.repository_size_bytes }}", EntityCategoryDia: true},
}

// haComponent is the component of the entity with object id id ("" when
// there is none).
func haComponent(id string) string {
	for _, e := range HAEntities {
		if e.ID == id {
			return e.Component
		}
	}
	return ""
}

// HAConfigTopic is rm/v1/monitor/homeassistant/{component}/{h}/{entity}/config.
func HAConfigTopic(h, entity string) string {
	return Topic{Kind: KindMonitorHA, Host: h, Entity: entity}.String()
}

// HADevice is a host as a Home Assistant device.
type HADevice struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Model        string   `json:"model"`
	Manufacturer string   `json:"manufacturer"`
	SWVersion    string   `json:"sw_version,omitempty"`
}

// HAOrigin names the software that published a discovery config.
type HAOrigin struct {
	Name string `json:"name"`
	SW   string `json:"sw_version,omitempty"`
}

// HAConfig is one retained discovery config (Home Assistant's MQTT sensor
// and binary_sensor schema). Availability reads the host's presence from
// its monitor state: "online" or "offline".
type HAConfig struct {
	Name                 string   `json:"name"`
	UniqueID             string   `json:"unique_id"`
	StateTopic           string   `json:"state_topic"`
	ValueTemplate        string   `json:"value_template"`
	DeviceClass          string   `json:"device_class,omitempty"`
	UnitOfMeasurement    string   `json:"unit_of_measurement,omitempty"`
	StateClass           string   `json:"state_class,omitempty"`
	EntityCategory       string   `json:"entity_category,omitempty"`
	AvailabilityTopic    string   `json:"availability_topic"`
	AvailabilityTemplate string   `json:"availability_template"`
	PayloadAvailable     string   `json:"payload_available"`
	PayloadNotAvailable  string   `json:"payload_not_available"`
	QoS                  int      `json:"qos"`
	Device               HADevice `json:"device"`
	Origin               HAOrigin `json:"origin"`
}

// HAHost is what a host's discovery configs are built from.
type HAHost struct {
	ID, Name, AgentVersion string
	// ServerVersion is the server's version, for the configs' origin.
	ServerVersion string
}

// HAConfigs builds the discovery configs of one host, keyed by topic.
func HAConfigs(h HAHost) map[string]*HAConfig {
	state := MonitorHostTopic(h.ID)
	dev := HADevice{Identifiers: []string{"restic-manager_" + h.ID}, Name: h.Name, Model: "restic-manager agent",
		Manufacturer: "restic-manager", SWVersion: h.AgentVersion}
	out := make(map[string]*HAConfig, len(HAEntities))
	for _, e := range HAEntities {
		c := &HAConfig{Name: e.Name, UniqueID: "restic-manager_" + h.ID + "_" + e.ID, StateTopic: state,
			ValueTemplate: e.ValueTemplate, DeviceClass: e.DeviceClass, UnitOfMeasurement: e.Unit, StateClass: e.StateClass,
			AvailabilityTopic: state, AvailabilityTemplate: "{{ value_json.status }}",
			PayloadAvailable: StateOnline, PayloadNotAvailable: StateOffline, QoS: 1, Device: dev,
			Origin: HAOrigin{Name: "restic-manager", SW: h.ServerVersion}}
		if e.EntityCategoryDia {
			c.EntityCategory = "diagnostic"
		}
		out[HAConfigTopic(h.ID, e.ID)] = c
	}
	return out
}

// Validate checks what Home Assistant and a monitor account need of a
// config: a unique id, a name, a device, and state and availability
// topics a monitor account may read (a host's monitor state).
func (c *HAConfig) Validate() error {
	if c.UniqueID == "" || c.Name == "" || len(c.Device.Identifiers) == 0 || c.Device.Name == "" {
		return errors.New("Home Assistant config without unique_id, name or device")
	}
	for name, topic := range map[string]string{"state_topic": c.StateTopic, "availability_topic": c.AvailabilityTopic} {
		t, err := Parse(topic)
		if err != nil || t.Kind != KindMonitorHost {
			return fmt.Errorf("%s %q is not a host's monitor state", name, clip(topic))
		}
	}
	if c.PayloadAvailable != StateOnline || c.PayloadNotAvailable != StateOffline {
		return errors.New("Home Assistant availability must read online and offline")
	}
	return shortText(map[string]string{"name": c.Name, "unique_id": c.UniqueID, "device name": c.Device.Name}, true)
}

// EncodeHAConfig validates a discovery config and returns its JSON.
func EncodeHAConfig(c *HAConfig) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(c)
}
