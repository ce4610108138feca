package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// haSubscriber is a real paho client logged in with a monitor account,
// subscribed as Home Assistant is: to the discovery filters under the
// prefix and, once it has read the configs, to their state topics. It
// keeps the last payload of every topic (empty: cleared).
type haSubscriber struct {
	c  mqtt.Client
	mu sync.Mutex
	// last payload per topic, and whether a topic was ever seen
	last map[string][]byte
}

func dialHASubscriber(t *testing.T, m *Main, name, password string) *haSubscriber {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(m.TLS().CACertPEM)
	user := server.MonitorUsername(name)
	s := &haSubscriber{last: map[string][]byte{}}
	opts := mqtt.NewClientOptions().AddBroker("ssl://" + m.Broker().TLSAddr().String()).
		SetClientID(user).SetUsername(user).SetPassword(password).SetProtocolVersion(4).
		SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}).SetAutoReconnect(false).
		SetDefaultPublishHandler(func(_ mqtt.Client, msg mqtt.Message) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.last[msg.Topic()] = append([]byte(nil), msg.Payload()...)
		})
	s.c = mqtt.NewClient(opts)
	if tk := s.c.Connect(); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("monitor connect: %v", tk.Error())
	}
	t.Cleanup(func() { s.c.Disconnect(100) })
	return s
}

// subscribe subscribes to filter and fails unless the broker grants it.
func (s *haSubscriber) subscribe(t *testing.T, filter string) {
	t.Helper()
	tk := s.c.Subscribe(filter, 1, nil)
	if !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tk.Error())
	}
	for _, code := range tk.(*mqtt.SubscribeToken).Result() {
		if code == 0x80 {
			t.Fatalf("subscribe %s refused", filter)
		}
	}
}

// configs returns the live (non-empty) discovery configs of host, by topic.
func (s *haSubscriber) configs(t *testing.T, host string) map[string]topics.HAConfig {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]topics.HAConfig{}
	for topic, b := range s.last {
		tp, err := topics.Parse(topic)
		if err != nil || tp.Kind != topics.KindMonitorHA || tp.Host != host || len(b) == 0 {
			continue
		}
		var c topics.HAConfig
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("config %s: %v: %s", topic, err, b)
		}
		out[topic] = c
	}
	return out
}

// cleared reports whether every config topic of host was seen and is now empty.
func (s *haSubscriber) cleared(host string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range topics.HAEntities {
		b, seen := s.last[topics.HAConfigTopic(host, e.ID)]
		if !seen || len(b) != 0 {
			return false
		}
	}
	return true
}

// state returns the raw JSON of a host's monitor state as the subscriber last read it.
func (s *haSubscriber) state(topic string) map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var raw map[string]json.RawMessage
	if b := s.last[topic]; len(b) > 0 {
		_ = json.Unmarshal(b, &raw)
	}
	return raw
}

// TestHADiscoveryMonitorFeed: with discovery turned on through the API, a
// real MQTT subscriber logged in with a monitor account reads every host's
// discovery configs under the prefix inside the monitor tree — each with a
// unique_id, a state_topic and an availability_topic it may read too — and
// the states they point at; revoking a host clears its configs (empty
// retained), and turning discovery off clears them all, also for a
// subscriber that comes later.
func TestHADiscoveryMonitorFeed(t *testing.T) {
	t.Parallel()
	m := startServer(t, t.TempDir(), "127.0.0.1:0", func(m *Main) {
		// The periodic republish is what carries a new repository size
		// until the stats job refreshes the state itself.
		m.ServiceOptions.Presence.RepublishEvery = 200 * time.Millisecond
	})
	svc, ctx := m.Service(), t.Context()
	token, err := svc.CreateAPIToken(ctx, server.CLIActor(), "admin", "ha")
	if err != nil {
		t.Fatal(err)
	}
	api := apiClient{t: t, base: m.HTTPURL(), token: token}
	hosts := map[string]string{} // id -> name
	for _, name := range []string{"office-pc", "nas"} {
		tok, _, err := svc.CreateEnrollmentToken(ctx, server.CLIActor(), name, 0)
		if err != nil {
			t.Fatal(err)
		}
		res, err := svc.Enroll(ctx, server.EnrollRequest{Token: tok, Hostname: name, OS: "linux", Arch: "amd64", AgentVersion: "1.2.3"})
		if err != nil {
			t.Fatal(err)
		}
		hosts[res.HostID] = name
	}
	pw, err := svc.CreateMonitorAccount(ctx, server.CLIActor(), "homeassistant")
	if err != nil {
		t.Fatal(err)
	}

	var settings server.MonitorSettings
	if code := api.do(http.MethodPut, "/api/v1/settings/monitor", map[string]any{"ha_discovery": true}, &settings); code != 200 ||
		!settings.HADiscovery || settings.HAPrefix != topics.HADiscoveryPrefix {
		t.Fatalf("PUT settings: %d %+v", code, settings)
	}

	ha := dialHASubscriber(t, m, "homeassistant", pw)
	for _, f := range []string{settings.HAPrefix + "/+/+/config", settings.HAPrefix + "/+/+/+/config"} {
		ha.subscribe(t, f)
	}
	for id := range hosts {
		waitFor(t, "the discovery configs of "+hosts[id], 10*time.Second, func() bool { return len(ha.configs(t, id)) == len(topics.HAEntities) })
	}
	unique := map[string]bool{}
	classes := map[string]bool{}
	for id, name := range hosts {
		for topic, c := range ha.configs(t, id) {
			if c.UniqueID == "" || unique[c.UniqueID] {
				t.Errorf("%s: unique_id %q empty or repeated", topic, c.UniqueID)
			}
			unique[c.UniqueID] = true
			st, err := topics.Parse(c.StateTopic)
			if err != nil || st.Kind != topics.KindMonitorHost || st.Host != id || !strings.HasPrefix(c.StateTopic, "rm/v1/monitor/") {
				t.Errorf("%s: state_topic %q is not the host's monitor state", topic, c.StateTopic)
			}
			if c.AvailabilityTopic != c.StateTopic || c.PayloadAvailable != "online" || c.PayloadNotAvailable != "offline" || c.AvailabilityTemplate == "" {
				t.Errorf("%s: availability %q %q/%q", topic, c.AvailabilityTopic, c.PayloadAvailable, c.PayloadNotAvailable)
			}
			if c.Device.Name != name || c.Device.Model != "restic-manager agent" || c.Device.SWVersion != "1.2.3" || len(c.Device.Identifiers) == 0 {
				t.Errorf("%s: device %+v", topic, c.Device)
			}
			classes[c.DeviceClass] = true
			// What Home Assistant does next: follow the state topic.
			ha.subscribe(t, c.StateTopic)
		}
	}
	for _, class := range []string{"timestamp", "problem", "connectivity", "data_size"} {
		if !classes[class] {
			t.Errorf("no entity with device_class %s", class)
		}
	}

	// The states the configs point at carry every field their templates read.
	var office, nas string
	for id, name := range hosts {
		if name == "office-pc" {
			office = id
		} else {
			nas = id
		}
	}
	state := topics.MonitorHostTopic(office)
	waitFor(t, "the office's state", 10*time.Second, func() bool { return ha.state(state) != nil })
	raw := ha.state(state)
	for _, k := range []string{"last_success_at", "overdue", "online", "repository_size_bytes", "status"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("state lacks %s: %v", k, raw)
		}
	}
	if string(raw["status"]) != `"offline"` || string(raw["online"]) != "false" {
		t.Errorf("a host that never connected: status %s online %s", raw["status"], raw["online"])
	}
	// A repository size restic stats reported reaches the state.
	if _, err := svc.DB().ExecContext(ctx, `INSERT INTO repository_stats (host_id, day, at, total_size, blobs, snapshots)
		VALUES (?, '2026-12-05', ?, 123456789, 10, 2)`, office, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the repository size in the state", 30*time.Second, func() bool {
		return string(ha.state(state)["repository_size_bytes"]) == "123456789"
	})

	// Revoking a host clears its configs; the other host keeps its own.
	if code, body := api.send(http.MethodPost, "/api/v1/hosts/"+office+"/revoke", map[string]string{"confirm": "office-pc"}); code != 200 && code != 204 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	waitFor(t, "the revoked host's configs to be cleared", 10*time.Second, func() bool { return ha.cleared(office) })
	if got := len(ha.configs(t, nas)); got != len(topics.HAEntities) {
		t.Errorf("the other host has %d configs after a revocation", got)
	}

	// Turning discovery off clears every config.
	if code := api.do(http.MethodPut, "/api/v1/settings/monitor", map[string]any{"ha_discovery": false}, &settings); code != 200 || settings.HADiscovery {
		t.Fatalf("PUT off: %d %+v", code, settings)
	}
	waitFor(t, "every config to be cleared", 10*time.Second, func() bool { return ha.cleared(nas) })

	// A subscriber that comes later finds no config: the broker kept none.
	// Its subscription to the nas state comes after the discovery filters,
	// so once that retained state arrives, any retained config would have.
	late := dialHASubscriber(t, m, "homeassistant", pw)
	late.subscribe(t, settings.HAPrefix+"/+/+/+/config")
	late.subscribe(t, topics.MonitorHostTopic(nas))
	waitFor(t, "the late subscriber's state", 10*time.Second, func() bool { return late.state(topics.MonitorHostTopic(nas)) != nil })
	if got := late.configs(t, nas); len(got) != 0 {
		t.Errorf("a later subscriber still reads configs: %v", got)
	}
}

// TestServeHADiscoveryFlag: serve --ha-discovery turns discovery on at
// start, and it stays on (it is a stored setting, audited).
func TestServeHADiscoveryFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	logs := &lockedBuffer{}
	go func() {
		done <- cmdServe(ctx, []string{"--data", dir, "--http", "127.0.0.1:0", "--mqtt", "", "--mqtts", "127.0.0.1:0",
			"--ha-discovery"}, io.Discard, logs)
	}()
	// Open the data directory as the CLI does, once the server has made it.
	// The admin's password is hashed at the real cost (serve has no other):
	// seconds under -race, more while the other tests run.
	waitFor(t, "the server to serve", 2*time.Minute, func() bool { return strings.Contains(logs.String(), "restic-manager is serving") })
	svc, err := server.Open(dir, slog.New(slog.NewTextHandler(io.Discard, nil)), server.Options{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	defer svc.Close()
	waitFor(t, "discovery to be on", 20*time.Second, func() bool {
		m, err := svc.MonitorSettings(ctx)
		return err == nil && m.HADiscovery
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}
