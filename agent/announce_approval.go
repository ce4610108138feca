package agent

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/restic-manager/restic-manager/topics"
)

// open decrypts and checks the credentials of an approval. It fails when
// they were sealed to another key (a server mix-up; a client that took over
// this pending ID could not open them either) or make no sense, and then
// nothing is written.
func (an *announcer) open(sealed []byte) (*topics.ApprovedCredentials, error) {
	const what = "ask an admin to reject this machine in the Pending hosts panel, then announce again"
	plain, err := an.keys.open(sealed)
	if err != nil {
		return nil, fmt.Errorf("announce: the server approved this machine, but its credentials cannot be opened with this machine's seal key (%v); nothing was written: %s", err, what)
	}
	dec := json.NewDecoder(bytes.NewReader(plain))
	var creds topics.ApprovedCredentials
	if err := dec.Decode(&creds); err != nil || dec.More() {
		return nil, fmt.Errorf("announce: the server approved this machine, but its credentials are not the expected JSON; nothing was written: %s", what)
	}
	if err := creds.Validate(); err != nil {
		return nil, fmt.Errorf("announce: the server approved this machine, but its credentials are unusable (%v); nothing was written: %s", err, what)
	}
	return &creds, nil
}

// save turns approved credentials into the agent config, checks it and
// writes it to ConfigPath (0600, atomically).
func (an *announcer) save(creds *topics.ApprovedCredentials) (*Config, error) {
	cfg, err := an.config(creds)
	if err != nil {
		return nil, fmt.Errorf("announce: the server approved this machine, but %w; nothing was written", err)
	}
	if err := cfg.SaveConfig(an.opts.ConfigPath); err != nil {
		return nil, fmt.Errorf("announce: the server approved this machine but the config could not be written (%w): fix the problem and run announce again, which gets the credentials again", err)
	}
	an.log.Info("config written", "path", an.opts.ConfigPath, "host_id", cfg.HostID)
	return cfg, nil
}

// config builds the agent config. The broker defaults to the one announced
// through and the CA to the bootstrap's; a CA the credentials bring must
// pass the same checks as the bootstrap's (the pin, its fingerprint).
func (an *announcer) config(creds *topics.ApprovedCredentials) (*Config, error) {
	caPEM, fingerprint := an.boot.caPEM, an.boot.caFingerprint
	if creds.CACert != "" {
		var err error
		caPEM = creds.CACert
		if fingerprint, err = checkServerCA(creds.CACert, creds.CAFingerprint, an.pin, an.opts.CAFingerprint); err != nil {
			return nil, err
		}
	}
	cfg := &Config{
		HostID:        creds.HostID,
		MQTTURL:       cmp.Or(creds.MQTTURL, an.boot.mqttURL),
		MQTTPassword:  creds.MQTTPassword,
		StateDir:      an.opts.StateDir,
		ResticBinary:  an.opts.ResticBinary,
		ServerURL:     strings.TrimRight(an.opts.ServerURL, "/"),
		CACert:        caPEM,
		CAFingerprint: fingerprint,
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("its credentials make an invalid config: %w", err)
	}
	return cfg, nil
}
