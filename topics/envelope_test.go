package topics

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func validHello(h string) *Hello {
	return &Hello{Envelope: NewEnvelope(TypeHello, h), AgentVersion: "1.0.0", ResticVersion: "0.18.1",
		OS: "linux", Arch: "amd64", Hostname: "web-1", BootID: "b1", ConnGen: 3}
}

func TestHelloRoundTrip(t *testing.T) {
	h := RandomID(HostIDPrefix)
	in := validHello(h)
	data, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	// The envelope is flattened next to the body.
	var flat map[string]any
	if err := json.Unmarshal(data, &flat); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"v", "id", "type", "ts", "host", "agent_version", "conn_gen"} {
		if _, ok := flat[k]; !ok {
			t.Errorf("encoded hello lacks %q: %s", k, data)
		}
	}
	var out Hello
	if err := DecodeFrom(data, h, &out); err != nil {
		t.Fatal(err)
	}
	if out.ConnGen != 3 || out.Hostname != "web-1" || !out.TS.Equal(in.TS) {
		t.Fatalf("round trip changed the message: %+v", out)
	}
}

func TestDecodeRejects(t *testing.T) {
	h := RandomID(HostIDPrefix)
	other := RandomID(HostIDPrefix)
	ok := validHello(h)
	mutate := func(f func(m *Hello)) []byte {
		m := *ok
		f(&m)
		b, _ := json.Marshal(&m)
		return b
	}
	cases := map[string][]byte{
		"not json":      []byte("{"),
		"trailing data": append(mutate(func(*Hello) {}), []byte(" {}")...),
		"newer version": mutate(func(m *Hello) { m.V = ProtocolVersion + 1 }),
		"no version":    mutate(func(m *Hello) { m.V = 0 }),
		"wrong type":    mutate(func(m *Hello) { m.Type = TypeStatus }),
		"no id":         mutate(func(m *Hello) { m.ID = "" }),
		"no ts":         mutate(func(m *Hello) { m.TS = time.Time{} }),
		"bad host":      mutate(func(m *Hello) { m.Host = "h_+/#" }),
		"no agent":      mutate(func(m *Hello) { m.AgentVersion = "" }),
		"control chars": mutate(func(m *Hello) { m.Hostname = "a\nb" }),
		"long hostname": mutate(func(m *Hello) { m.Hostname = strings.Repeat("x", 300) }),
		"bad job id":    mutate(func(m *Hello) { m.Jobs = []string{"a/b"} }),
		"forged host":   mutate(func(m *Hello) { m.Host = other }),
		"oversized":     append([]byte(`{"pad":"`+strings.Repeat("x", MaxPayload)), []byte(`"}`)...),
	}
	for name, data := range cases {
		var m Hello
		if err := DecodeFrom(data, h, &m); err == nil {
			t.Errorf("%s: accepted %q", name, clip(string(data)))
		}
	}
}

func TestUnknownFieldsIgnored(t *testing.T) {
	h := RandomID(HostIDPrefix)
	b, _ := json.Marshal(&Status{Envelope: NewEnvelope(TypeStatus, h), State: StateOnline, BootID: "b"})
	b = append([]byte(`{"future_field":[1,2,3],`), b[1:]...)
	var s Status
	if err := DecodeFrom(b, h, &s); err != nil {
		t.Fatalf("unknown field rejected: %v", err)
	}
}

func FuzzDecodeHello(f *testing.F) {
	h := RandomID(HostIDPrefix)
	seed, _ := json.Marshal(validHello(h))
	f.Add(seed)
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Hello
		if err := Decode(data, &m); err != nil {
			return
		}
		// Whatever decodes must re-encode and decode to a valid message again.
		again, err := Encode(&m)
		if err != nil {
			t.Fatalf("decoded message fails to encode: %v", err)
		}
		var m2 Hello
		if err := Decode(again, &m2); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzDecodeStatus(f *testing.F) {
	h := RandomID(HostIDPrefix)
	seed, _ := json.Marshal(&Status{Envelope: NewEnvelope(TypeStatus, h), State: StateOffline, BootID: "b", ConnGen: 9})
	f.Add(seed)
	f.Add([]byte(`{"v":1,"type":"status","state":"online"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Status
		if err := Decode(data, &m); err != nil {
			return
		}
		if m.State != StateOnline && m.State != StateOffline {
			t.Fatalf("accepted state %q", m.State)
		}
	})
}
