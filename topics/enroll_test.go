package topics

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"unicode"
)

func goodEnrollRequest() EnrollRequest {
	return EnrollRequest{Token: "rme_" + strings.Repeat("A", 43), Hostname: "web-01.lan", OS: "linux", Arch: "arm64",
		AgentVersion: "0.1.0", ResticVersion: "0.18.1"}
}

func goodEnrollResponse() EnrollResponse {
	return EnrollResponse{ApprovedCredentials{HostID: RandomID(HostIDPrefix), HostName: "web-01",
		MQTTURL: "mqtts://backup.example.com:8883", MQTTPassword: "secret",
		CACert: "-----BEGIN CERTIFICATE-----\n", CAFingerprint: Fingerprint([]byte("ca"))}}
}

func goodBootstrapResponse() BootstrapResponse {
	return BootstrapResponse{MQTTURL: "mqtts://backup.example.com:8883", CACert: "-----BEGIN CERTIFICATE-----\n",
		CAFingerprint: Fingerprint([]byte("ca"))}
}

// bootstrapKey is the identity key of goodBootstrapRequest.
var bootstrapKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// signedBootstrap is a bootstrap request for client and password signed by
// bootstrapKey.
func signedBootstrap(client, password string) BootstrapRequest {
	return BootstrapRequest{Client: client, IdentityKey: bootstrapKey.Public().(ed25519.PublicKey), Password: password,
		Signature: ed25519.Sign(bootstrapKey, BootstrapMessage(client, password))}
}

func goodBootstrapRequest() BootstrapRequest {
	return signedBootstrap(PendingID(bootstrapKey.Public().(ed25519.PublicKey)), strings.Repeat("Pw-_", 11))
}

// TestBootstrapRequestValidate: only the holder of the identity key a
// pending ID belongs to can name that ID's password, and the password has
// the agent's form.
func TestBootstrapRequestValidate(t *testing.T) {
	good := goodBootstrapRequest()
	_, other, _ := ed25519.GenerateKey(nil)
	validateTable(t, goodBootstrapRequest, (*BootstrapRequest).Validate, map[string]validateCase[BootstrapRequest]{
		"good":              {func(*BootstrapRequest) {}, ""},
		"shortest password": {func(r *BootstrapRequest) { *r = signedBootstrap(good.Client, strings.Repeat("p", MinPendingPassword)) }, ""},
		"longest password":  {func(r *BootstrapRequest) { *r = signedBootstrap(good.Client, strings.Repeat("p", MaxMQTTPassword)) }, ""},
		"password too short": {func(r *BootstrapRequest) {
			*r = signedBootstrap(good.Client, strings.Repeat("p", MinPendingPassword-1))
		}, "password must be"},
		"password too long":        {func(r *BootstrapRequest) { *r = signedBootstrap(good.Client, strings.Repeat("p", MaxMQTTPassword+1)) }, "password must be"},
		"password with a space":    {func(r *BootstrapRequest) { *r = signedBootstrap(good.Client, strings.Repeat("p", 30)+" x") }, "spaces, control"},
		"password with a NUL":      {func(r *BootstrapRequest) { *r = signedBootstrap(good.Client, strings.Repeat("p", 30)+"\x00") }, "spaces, control"},
		"password not ASCII":       {func(r *BootstrapRequest) { *r = signedBootstrap(good.Client, strings.Repeat("p", 30)+"é") }, "non-ASCII"},
		"password changed":         {func(r *BootstrapRequest) { r.Password += "x" }, "signature does not verify"},
		"another key's signature":  {func(r *BootstrapRequest) { r.Signature = ed25519.Sign(other, BootstrapMessage(r.Client, r.Password)) }, "signature does not verify"},
		"someone else's client id": {func(r *BootstrapRequest) { r.Client = PendingID(other.Public().(ed25519.PublicKey)) }, "does not belong"},
		"host id as client":        {func(r *BootstrapRequest) { r.Client = RandomID(HostIDPrefix) }, "does not belong"},
		"no identity key":          {func(r *BootstrapRequest) { r.IdentityKey = nil }, "wrong size"},
		"short signature":          {func(r *BootstrapRequest) { r.Signature = r.Signature[:10] }, "wrong size"},
		"empty":                    {func(r *BootstrapRequest) { *r = BootstrapRequest{} }, "wrong size"},
	})
}

func TestEnrollRequestValidate(t *testing.T) {
	validateTable(t, goodEnrollRequest, (*EnrollRequest).Validate, map[string]validateCase[EnrollRequest]{
		"good":                        {func(*EnrollRequest) {}, ""},
		"only a token":                {func(r *EnrollRequest) { *r = EnrollRequest{Token: "rme_x"} }, ""},
		"token at the limit":          {func(r *EnrollRequest) { r.Token = strings.Repeat("t", MaxEnrollToken) }, ""},
		"hostname at the limit":       {func(r *EnrollRequest) { r.Hostname = strings.Repeat("h", MaxMachineField) }, ""},
		"unicode hostname":            {func(r *EnrollRequest) { r.Hostname = "café-pc" }, ""},
		"no token":                    {func(r *EnrollRequest) { r.Token = "" }, "token is empty"},
		"token too long":              {func(r *EnrollRequest) { r.Token = strings.Repeat("t", MaxEnrollToken+1) }, "longer than 200"},
		"token with a space":          {func(r *EnrollRequest) { r.Token = "rme_a b" }, "spaces or control"},
		"token with a newline":        {func(r *EnrollRequest) { r.Token = "rme_ab\n" }, "spaces or control"},
		"token with DEL":              {func(r *EnrollRequest) { r.Token = "rme_\x7f" }, "spaces or control"},
		"hostname too long":           {func(r *EnrollRequest) { r.Hostname = strings.Repeat("h", MaxMachineField+1) }, "hostname longer than 255"},
		"os with control characters":  {func(r *EnrollRequest) { r.OS = "linux\x1b[2J" }, "os contains control"},
		"arch with NUL":               {func(r *EnrollRequest) { r.Arch = "arm\x00" }, "arch contains control"},
		"agent version too long":      {func(r *EnrollRequest) { r.AgentVersion = strings.Repeat("1", 256) }, "agent_version longer"},
		"restic version with newline": {func(r *EnrollRequest) { r.ResticVersion = "0.18\n" }, "restic_version contains control"},
	})
}

func TestEnrollResponseValidate(t *testing.T) {
	validateTable(t, goodEnrollResponse, (*EnrollResponse).Validate, map[string]validateCase[EnrollResponse]{
		"good":                  {func(*EnrollResponse) {}, ""},
		"no CA (plain http)":    {func(r *EnrollResponse) { r.CACert, r.CAFingerprint = "", "" }, ""},
		"no host id":            {func(r *EnrollResponse) { r.HostID = "" }, "no host_id"},
		"pending id as host id": {func(r *EnrollResponse) { r.HostID = RandomID(PendingIDPrefix) }, "invalid host_id"},
		"host id with a slash":  {func(r *EnrollResponse) { r.HostID = "h_abc/#" }, "invalid host_id"},
		"no mqtt url":           {func(r *EnrollResponse) { r.MQTTURL = "" }, "no usable mqtt_url"},
		"mqtt url too long":     {func(r *EnrollResponse) { r.MQTTURL = "mqtts://" + strings.Repeat("a", MaxMQTTURL) }, "mqtt_url too long"},
		"no password":           {func(r *EnrollResponse) { r.MQTTPassword = "" }, "no mqtt_password"},
		"password too long":     {func(r *EnrollResponse) { r.MQTTPassword = strings.Repeat("p", MaxMQTTPassword+1) }, "mqtt_password too long"},
		"no host name":          {func(r *EnrollResponse) { r.HostName = "" }, "missing host_name"},
		"host name too long":    {func(r *EnrollResponse) { r.HostName = strings.Repeat("n", 256) }, "host_name longer"},
		"host name with escape": {func(r *EnrollResponse) { r.HostName = "a\x1b[2J" }, "host_name contains control"},
		"CA too large":          {func(r *EnrollResponse) { r.CACert = strings.Repeat("c", MaxCACert+1) }, "ca_cert too large"},
		"fingerprint too long":  {func(r *EnrollResponse) { r.CAFingerprint = strings.Repeat("f", 256) }, "ca_fingerprint too long"},
	})
}

func TestBootstrapResponseValidate(t *testing.T) {
	validateTable(t, goodBootstrapResponse, (*BootstrapResponse).Validate, map[string]validateCase[BootstrapResponse]{
		"good":                 {func(*BootstrapResponse) {}, ""},
		"no CA":                {func(r *BootstrapResponse) { r.CACert, r.CAFingerprint = "", "" }, ""},
		"no mqtt url":          {func(r *BootstrapResponse) { r.MQTTURL = "" }, "no usable mqtt_url"},
		"mqtt url too long":    {func(r *BootstrapResponse) { r.MQTTURL = strings.Repeat("m", MaxMQTTURL+1) }, "no usable mqtt_url"},
		"CA too large":         {func(r *BootstrapResponse) { r.CACert = strings.Repeat("c", MaxCACert+1) }, "ca_cert too large"},
		"fingerprint too long": {func(r *BootstrapResponse) { r.CAFingerprint = strings.Repeat("f", 256) }, "ca_fingerprint too long"},
	})
}

// TestDecodeEnrollBodies: the decoders take one JSON object, ignore
// unknown fields, and refuse oversized bodies, trailing data and bodies
// that fail Validate, naming the body.
func TestDecodeEnrollBodies(t *testing.T) {
	req, _ := json.Marshal(goodEnrollRequest())
	if r, err := DecodeEnrollRequest(append(req[:len(req)-1], `,"future":1}`...)); err != nil || r.Hostname != "web-01.lan" {
		t.Fatalf("request with an unknown field: %+v, %v", r, err)
	}
	resp, _ := json.Marshal(goodEnrollResponse())
	if !strings.Contains(string(resp), `"host_id":"h_`) || strings.Contains(string(resp), "ApprovedCredentials") {
		t.Fatalf("the answer's JSON is not flat: %s", resp)
	}
	if r, err := DecodeEnrollResponse(resp); err != nil || *r != goodEnrollResponseLike(r) {
		t.Fatalf("good answer: %+v, %v", r, err)
	}
	boot, _ := json.Marshal(goodBootstrapResponse())
	if r, err := DecodeBootstrapResponse(boot); err != nil || *r != goodBootstrapResponse() {
		t.Fatalf("good bootstrap answer: %+v, %v", r, err)
	}
	for body, want := range map[string]string{
		`<html>`:             "enrollment answer is not the expected JSON",
		`{"host_id":1}`:      "enrollment answer is not the expected JSON",
		string(resp) + ` {}`: "enrollment answer has data after the JSON object",
		`{}`:                 "enrollment answer: no host_id",
		`null`:               "enrollment answer: no host_id",
		`{"host_name":"` + strings.Repeat("x", MaxEnrollBody) + `"}`: "enrollment answer is larger than 65536 bytes",
	} {
		if _, err := DecodeEnrollResponse([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeEnrollResponse(%.40q) = %v, want %q", body, err, want)
		}
	}
	if _, err := DecodeEnrollRequest([]byte(`{"token":"a b"}`)); err == nil || !strings.Contains(err.Error(), "enrollment request: the enrollment token contains spaces") {
		t.Errorf("request with a spaced token: %v", err)
	}
	bootReq, _ := json.Marshal(goodBootstrapRequest())
	if r, err := DecodeBootstrapRequest(bootReq); err != nil || r.Password != goodBootstrapRequest().Password {
		t.Fatalf("good bootstrap request: %+v, %v", r, err)
	}
	if _, err := DecodeBootstrapRequest([]byte(`{"client":"p_x"}`)); err == nil || !strings.Contains(err.Error(), "bootstrap request: identity_key") {
		t.Errorf("bootstrap request without keys: %v", err)
	}
	if _, err := DecodeBootstrapResponse([]byte(`{"ca_cert":""}`)); err == nil || !strings.Contains(err.Error(), "bootstrap answer: no usable mqtt_url") {
		t.Errorf("bootstrap answer without a broker: %v", err)
	}
}

// goodEnrollResponseLike is goodEnrollResponse with r's random host id.
func goodEnrollResponseLike(r *EnrollResponse) EnrollResponse {
	g := goodEnrollResponse()
	g.HostID = r.HostID
	return g
}

// validateCase changes a good value; want is what the error says, "" when
// the value stays valid.
type validateCase[T any] struct {
	mutate func(*T)
	want   string
}

// validateTable runs validate on good() changed by each case.
func validateTable[T any](t *testing.T, good func() T, validate func(*T) error, cases map[string]validateCase[T]) {
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v := good()
			tc.mutate(&v)
			checkValidate(t, validate(&v), tc.want)
		})
	}
}

func checkValidate(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("refused: %v", err)
	case want != "" && err == nil:
		t.Fatalf("accepted, want an error saying %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not say %q", err, want)
	}
}

// FuzzDecodeEnrollBodies feeds untrusted bytes to the four decoders:
// none may panic, what one accepts passes its Validate and keeps within
// the bounds, and no error carries a control character to a terminal or a
// log line.
func FuzzDecodeEnrollBodies(f *testing.F) {
	for _, v := range []any{goodEnrollRequest(), goodEnrollResponse(), goodBootstrapResponse(), goodBootstrapRequest()} {
		b, _ := json.Marshal(v)
		f.Add(b)
	}
	for _, seed := range []string{
		`{"token":"rme_x"}`, `{"token":"a\u0000b"}`, `{"token":null,"os":7}`, `{"hostname":"\u001b[2J"}`,
		`{"host_id":"h_` + strings.Repeat("a", 26) + `","host_name":"x","mqtt_url":"mqtt://127.0.0.1:1883","mqtt_password":"p"}`,
		`{"mqtt_url":"mqtts://x:8883"}`, `{} {}`, `null`, `[]`, `"x"`, `{`, "\xff\xfe", `{"mqtt_url":"\u0000"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		clean := func(err error) {
			if err != nil && strings.ContainsFunc(err.Error(), unicode.IsControl) {
				t.Fatalf("error carries control characters: %q", err)
			}
		}
		req, err := DecodeEnrollRequest(data)
		clean(err)
		if err == nil && (req.Validate() != nil || req.Token == "" || len(req.Token) > MaxEnrollToken) {
			t.Fatalf("accepted request %+v", req)
		}
		resp, err := DecodeEnrollResponse(data)
		clean(err)
		if err == nil && (resp.Validate() != nil || !ValidHostID(resp.HostID) || resp.MQTTURL == "" || resp.MQTTPassword == "") {
			t.Fatalf("accepted answer %+v", resp)
		}
		boot, err := DecodeBootstrapResponse(data)
		clean(err)
		if err == nil && (boot.Validate() != nil || boot.MQTTURL == "" || len(boot.MQTTURL) > MaxMQTTURL) {
			t.Fatalf("accepted bootstrap answer %+v", boot)
		}
		breq, err := DecodeBootstrapRequest(data)
		clean(err)
		if err == nil && (breq.Validate() != nil || !ValidPendingID(breq.Client) || len(breq.Password) < MinPendingPassword ||
			!ed25519.Verify(breq.IdentityKey, BootstrapMessage(breq.Client, breq.Password), breq.Signature)) {
			t.Fatalf("accepted bootstrap request %+v", breq)
		}
	})
}
