package agent

import (
	"log/slog"
	"strings"
	"testing"
	"unicode"

	"github.com/restic-manager/restic-manager/topics"
)

// FuzzDecodeBootstrap feeds untrusted bootstrap answers to the decoder and
// the error formatter: neither may panic, what decodes must name a broker
// the agent can dial safely, and no error may carry control characters to
// the operator's terminal.
func FuzzDecodeBootstrap(f *testing.F) {
	f.Add([]byte(`{"mqtt_url":"mqtts://127.0.0.1:8883","ca_cert":"-----BEGIN CERTIFICATE-----\n"}`), 200)
	f.Add([]byte(`{"mqtt_url":"mqtt://127.0.0.1:1883"}`), 200)
	f.Add([]byte(`{"mqtt_url":"mqtt://backup.example.com"}`), 200)
	f.Add([]byte(`{"error":"rate_limited","message":"\u001b[2J"}`), 429)
	f.Add([]byte(`<html>`), 404)
	f.Add([]byte(`{} {}`), 200)
	f.Add([]byte(`null`), 200)
	f.Fuzz(func(t *testing.T, data []byte, status int) {
		if b, err := decodeBootstrap(data, nil, ""); err == nil {
			if b.broker == nil || (!isTLSScheme(b.broker.Scheme) && !isLoopback(b.broker.Hostname())) ||
				(isTLSScheme(b.broker.Scheme) && b.ca == nil) {
				t.Fatalf("accepted a broker it cannot dial safely: %+v", b)
			}
		} else if strings.ContainsFunc(err.Error(), unicode.IsControl) {
			t.Fatalf("error carries control characters: %q", err)
		}
		if err := bootstrapStatusError(status, data); err == nil || strings.ContainsFunc(err.Error(), unicode.IsControl) {
			t.Fatalf("status error %q", err)
		}
	})
}

// FuzzOpenApproval feeds arbitrary plaintext, sealed to the agent's real
// seal key as the server would, to the approval path: it may refuse, never
// panic, and what it accepts makes a valid config.
func FuzzOpenApproval(f *testing.F) {
	f.Add([]byte(`{"host_id":"h_abc","host_name":"x","mqtt_password":"pw"}`))
	f.Add([]byte(`{"host_id":"h_abc","host_name":"x","mqtt_password":"pw","mqtt_url":"mqtts://[::1]"}`))
	f.Add([]byte(`{"host_id":"h_abc","host_name":"x","mqtt_password":"pw","ca_cert":"x"}`))
	f.Add([]byte(`null`))
	keys, _, err := LoadAnnounceKeys(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	an := &announcer{
		opts: AnnounceOptions{ServerURL: "https://127.0.0.1", StateDir: "/var/lib/rm-test", ResticBinary: "restic"},
		log:  slog.New(slog.DiscardHandler), keys: keys,
		boot: &bootstrap{mqttURL: "mqtt://127.0.0.1:1883"},
	}
	f.Fuzz(func(t *testing.T, plain []byte) {
		sealed, err := topics.SealCredentials(keys.SealKey(), plain)
		if err != nil {
			t.Fatal(err)
		}
		creds, err := an.open(sealed)
		if err != nil {
			return
		}
		if cfg, err := an.config(creds); err == nil {
			if err := cfg.Validate(); err != nil {
				t.Fatalf("config from accepted credentials is invalid: %v", err)
			}
		}
	})
}
