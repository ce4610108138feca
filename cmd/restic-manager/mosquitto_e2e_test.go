package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/goccy/go-yaml"

	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/broker/mosquitto/mosquittotest"
	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// TestExternalMosquitto runs the real server against a real Mosquitto with
// its dynamic-security plugin (serve --broker) instead of the embedded
// broker: a real agent enrolls (its client, role and ACL provisioned
// through the plugin), says hello and comes online, gets its repository
// initialised and runs a backup whose result is ingested; another host's
// credentials cannot publish as the first host (Mosquitto's ACL drops it);
// and revocation kicks the revoked host at once and keeps it out.
func TestExternalMosquitto(t *testing.T) {
	t.Parallel()
	agenttest.RequireBinary(t, "restic")
	mb := mosquittotest.Start(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	m := startServer(t, dataDir, "", func(m *Main) {
		m.MQTTAddr, m.MQTTSAddr = "", ""
		m.BrokerURL, m.BrokerUser, m.BrokerPassword = mb.URL, mosquittotest.AdminUser, mb.AdminPassword
	})
	if m.Broker() != nil {
		t.Fatal("the embedded broker runs beside --broker")
	}
	e := &jobEnv{t: t, dir: dir, dataDir: dataDir, m: m, hostName: "mq-a"}
	e.apiToken = cli(t, "", "apitoken", "create", "--user", "admin", "--data", dataDir)
	enroll := func(name string) (cfgPath string, cfg agentYAML) {
		tok := cli(t, "", "token", "create", "--host", name, "--data", dataDir)
		cfgPath = filepath.Join(dir, name, "agent.yaml")
		out, err := exec.Command(agentBin, "enroll", "--server", m.HTTPSURL(), "--token", tok,
			"--ca-fingerprint", m.TLS().Fingerprint, "--config", cfgPath, "--state-dir", filepath.Join(dir, name, "state")).CombinedOutput()
		if err != nil {
			t.Fatalf("enroll %s: %v\n%s\nmosquitto:\n%s", name, err, out, mb.Log())
		}
		data, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.MQTTURL != mb.URL.String() {
			t.Fatalf("%s was given broker %q, want the external one %q", name, cfg.MQTTURL, mb.URL)
		}
		return cfgPath, cfg
	}
	var a agentYAML
	e.cfgPath, a = enroll("mq-a")
	_, b := enroll("mq-b")
	e.hostID = a.HostID

	// Hello through Mosquitto: online, with what the agent reported.
	e.startAgent()
	var h struct {
		hostJSON
		Hostname string `json:"hostname"`
	}
	if e.api().do("GET", "/api/v1/hosts/"+a.HostID, nil, &h) != http.StatusOK || h.AgentVersion == "" {
		t.Fatalf("host after hello: %+v", h)
	}
	realHostname := h.Hostname

	// A job each way: the init the repository queues, then a backup.
	repo := filepath.Join(dir, "repo")
	if j := e.setReadyRepository(repo, "repo password"); j.Status != "succeeded" {
		t.Fatalf("init: %s\n%s", j.Status, e.agentLogs())
	}
	data := makeData(t, filepath.Join(dir, "src"), 5, 2048)
	j := e.waitJob(e.runJob(map[string]any{"kind": "backup", "paths": []string{data}}), 90*time.Second)
	if j.Status != "succeeded" || j.SnapshotID == "" {
		t.Fatalf("backup: %s snapshot %q\n%s", j.Status, j.SnapshotID, e.agentLogs())
	}
	if snaps := repoSnapshots(t, repo, "repo password"); len(snaps) != 1 {
		t.Fatalf("repository snapshots: %v", snaps)
	}

	// Host b, with its own valid credentials, publishes a hello as host a,
	// then its own. Mosquitto drops the first (b's role allows only b's
	// up/): once b's own hello has arrived, a's hello is still a's.
	bc := mqttClient(t, mb.URL.Host, b.HostID, b.MQTTPassword)
	forged := topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, a.HostID), AgentVersion: "forged",
		OS: "linux", Arch: "amd64", Hostname: "forged", BootID: "forged", ConnGen: 1 << 40}
	own := topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, b.HostID), AgentVersion: "raw",
		OS: "linux", Arch: "amd64", Hostname: "b-raw", BootID: "b", ConnGen: 1}
	for _, msg := range []topics.Hello{forged, own} {
		payload, _ := json.Marshal(msg)
		tp := topics.Topic{Kind: topics.KindHello, Host: msg.Host}.String()
		if tok := bc.Publish(tp, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", tp, tok.Error())
		}
	}
	waitFor(t, "b's own hello at the server", 30*time.Second, func() bool {
		var hb struct {
			Hostname string `json:"hostname"`
		}
		return e.api().do("GET", "/api/v1/hosts/"+b.HostID, nil, &hb) == http.StatusOK && hb.Hostname == "b-raw"
	})
	if e.api().do("GET", "/api/v1/hosts/"+a.HostID, nil, &h) != http.StatusOK || h.Hostname != realHostname || !h.Online {
		t.Fatalf("host a after b's forged hello: hostname %q online %v, want %q online", h.Hostname, h.Online, realHostname)
	}

	// Revocation kicks b now, and b cannot come back.
	if code := e.api().do("POST", "/api/v1/hosts/"+b.HostID+"/revoke", map[string]string{"confirm": "mq-b"}, nil); code != http.StatusOK {
		t.Fatalf("revoke: HTTP %d", code)
	}
	waitFor(t, "b kicked by the broker", 20*time.Second, func() bool { return !bc.IsConnectionOpen() })
	if err := tryMQTT(mb.URL.Host, b.HostID, b.MQTTPassword); err == nil {
		t.Fatal("a revoked host connected again")
	}
	// a is untouched and still works.
	j = e.waitJob(e.runJob(map[string]any{"kind": "backup", "paths": []string{data}}), 90*time.Second)
	if j.Status != "succeeded" {
		t.Fatalf("backup after b's revocation: %s\n%s", j.Status, e.agentLogs())
	}
}

// agentYAML is what the test reads back from an enrolled agent's config.
type agentYAML struct {
	HostID       string `yaml:"host_id"`
	MQTTURL      string `yaml:"mqtt_url"`
	MQTTPassword string `yaml:"mqtt_password"`
}

// mqttClient connects like an agent (client ID = username) without the
// agent, to publish what the agent never would.
func mqttClient(t *testing.T, addr, id, password string) paho.Client {
	t.Helper()
	c := paho.NewClient(mqttOptions(addr, id, password))
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("connect as %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func tryMQTT(addr, id, password string) error {
	c := paho.NewClient(mqttOptions(addr, id, password))
	tok := c.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return nil // no refusal either
	}
	if err := tok.Error(); err != nil {
		return err
	}
	c.Disconnect(0)
	return nil
}

func mqttOptions(addr, id, password string) *paho.ClientOptions {
	return paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetUsername(id).SetPassword(password).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
}

// TestExternalMosquittoTLS runs the server, a real agent and a monitoring
// client against Mosquitto over TLS, with the certificate broker-cert issued
// from the server's CA: the agent, which pins that CA, comes online through
// it, and monitor add --broker provisions an account that reads the host's
// retained state. monitor add runs as the server binary, with the broker's
// admin password in its environment as an operator gives it.
func TestExternalMosquittoTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	// The broker's certificate comes before the server's first start (which
	// needs the broker): a data directory with its CA and master key first.
	servertest.SeedDataDir(t, dataDir)
	svc, err := server.Open(dataDir, nil, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Close()
	certDir := filepath.Join(dir, "broker-tls")
	cli(t, "", "broker-cert", "--data", dataDir, "--names", "127.0.0.1", "--out", certDir)
	mb := mosquittotest.StartWith(t, mosquittotest.Options{
		CertFile: filepath.Join(certDir, "broker.crt"), KeyFile: filepath.Join(certDir, "broker.key")})
	m := startServer(t, dataDir, "", func(m *Main) {
		m.MQTTAddr, m.MQTTSAddr = "", ""
		m.BrokerURL, m.BrokerUser, m.BrokerPassword = mb.URL, mosquittotest.AdminUser, mb.AdminPassword
	})
	e := &jobEnv{t: t, dir: dir, dataDir: dataDir, m: m, hostName: "mq-tls"}
	e.apiToken = cli(t, "", "apitoken", "create", "--user", "admin", "--data", dataDir)
	tok := cli(t, "", "token", "create", "--host", "mq-tls", "--data", dataDir)
	e.cfgPath = filepath.Join(dir, "agent", "agent.yaml")
	if out, err := exec.Command(agentBin, "enroll", "--server", m.HTTPSURL(), "--token", tok,
		"--ca-fingerprint", m.TLS().Fingerprint, "--config", e.cfgPath, "--state-dir", filepath.Join(dir, "agent", "state")).CombinedOutput(); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	hosts, err := m.Service().ListHosts(t.Context())
	if err != nil || len(hosts) != 1 {
		t.Fatalf("hosts: %v %v", hosts, err)
	}
	e.hostID = hosts[0].ID
	e.startAgent()

	brokerURL := *mb.URL
	brokerURL.User = url.User(mosquittotest.AdminUser)
	added := runRMWith(t, dir, []string{brokerPasswordEnv + "=" + mb.AdminPassword}, "",
		"monitor", "add", "grafana", "--data", dataDir, "--broker", brokerURL.String())
	password := strings.TrimSpace(added.stdout)
	if added.code != 0 || password == "" {
		t.Fatalf("monitor add --broker: exit %d\nstdout:\n%s\nstderr:\n%s", added.code, added.stdout, added.stderr)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(m.TLS().CACertPEM)
	const mon = topics.MonitorPrefix + "grafana"
	opts := mqttOptions(mb.URL.Host, mon, password).SetTLSConfig(&tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	opts.Servers = nil
	opts.AddBroker("ssl://" + mb.URL.Host)
	mc := paho.NewClient(opts)
	if tok := mc.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("monitor connect over TLS: %v\n%s", tok.Error(), mb.Log())
	}
	defer mc.Disconnect(0)
	states := make(chan string, 16)
	filter := topics.Prefix + "/monitor/hosts/+"
	if tok := mc.Subscribe(filter, 1, func(_ paho.Client, msg paho.Message) { states <- msg.Topic() }); !tok.WaitTimeout(10*time.Second) ||
		tok.(*paho.SubscribeToken).Result()[filter] == 0x80 {
		t.Fatalf("monitor subscribe refused: %v", tok.Error())
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case tp := <-states:
			if tp == topics.MonitorHostTopic(e.hostID) {
				return
			}
		case <-deadline:
			t.Fatal("the monitor account did not get the host's retained state")
		}
	}
}
