package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestServeBrokerFlagRefusals: serve --broker refuses, before opening
// anything, a URL that is not a broker's, a password in the URL (argv is
// visible to every user), and a missing admin user or password, each with
// the sentence that says what to pass.
func TestServeBrokerFlagRefusals(t *testing.T) {
	// Not parallel: t.Setenv for the broker's password.
	for _, tc := range []struct {
		name, url, user, password, want string
	}{
		{"http scheme", "http://127.0.0.1:1883", "rm-admin", "pw", "want mqtt://host:port or mqtts://host:port"},
		{"no port", "mqtt://127.0.0.1", "rm-admin", "pw", "want mqtt://host:port"},
		{"password in the URL", "mqtt://rm-admin:secret@127.0.0.1:1883", "", "pw", "must not carry a password"},
		{"no user", "mqtt://127.0.0.1:1883", "", "pw", "--broker-user"},
		{"no password", "mqtts://rm-admin@127.0.0.1:8883", "", "", "RM_BROKER_PASSWORD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(brokerPasswordEnv, tc.password)
			args := []string{"serve", "--data", t.TempDir(), "--broker", tc.url}
			if tc.user != "" {
				args = append(args, "--broker-user", tc.user)
			}
			var out, errOut bytes.Buffer
			err := run(t.Context(), args, strings.NewReader(""), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("serve %v: %v, want an error saying %q", args, err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("the error repeats the password: %v", err)
			}
		})
	}
}
