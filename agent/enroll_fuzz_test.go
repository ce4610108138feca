package agent

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"

	"github.com/restic-manager/restic-manager/topics"
)

// FuzzDecodeEnrollResponse feeds untrusted server answers to the decoder
// (topics') and to the agent's error formatter: neither may panic,
// whatever decodes must have the fields the agent relies on, and no error
// may carry control characters to the operator's terminal.
func FuzzDecodeEnrollResponse(f *testing.F) {
	ok, _ := json.Marshal(topics.EnrollResponse{ApprovedCredentials: topics.ApprovedCredentials{HostID: topics.RandomID(topics.HostIDPrefix),
		HostName: "web-1", MQTTURL: "mqtts://127.0.0.1:8883", MQTTPassword: "pw", CACert: "-----BEGIN CERTIFICATE-----\n", CAFingerprint: "SHA256:x"}})
	f.Add(ok, 200)
	f.Add([]byte(`{"error":"invalid_token","message":"token already used"}`), 401)
	f.Add([]byte(`{"message":"\u001b[2J"}`), 429)
	f.Add([]byte(`<html>`), 502)
	f.Add([]byte(`{} {}`), 200)
	f.Add([]byte(`null`), 200)
	f.Add([]byte(`{"host_id":1}`), 200)
	f.Fuzz(func(t *testing.T, data []byte, status int) {
		if r, err := topics.DecodeEnrollResponse(data); err == nil {
			if r.HostID == "" || r.MQTTURL == "" || r.MQTTPassword == "" {
				t.Fatalf("accepted an answer without host_id, mqtt_url or mqtt_password: %+v", r)
			}
		} else if strings.ContainsFunc(err.Error(), unicode.IsControl) {
			t.Fatalf("decode error carries control characters: %q", err)
		}
		err := enrollStatusError(status, "", data)
		if err == nil {
			t.Fatal("no error for a failed enrollment")
		}
		if strings.ContainsFunc(err.Error(), unicode.IsControl) {
			t.Fatalf("error carries control characters: %q", err)
		}
	})
}
