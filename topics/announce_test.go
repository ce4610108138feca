package topics

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"testing"
)

func newAnnounce(t testing.TB) (*AnnounceHello, ed25519.PrivateKey, *ecdh.PrivateKey) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	seal, _ := ecdh.X25519().GenerateKey(rand.Reader)
	m := &AnnounceHello{Envelope: NewEnvelope(TypeAnnounceHello, ""), Client: PendingID(pub), Hostname: "till-3",
		OS: "linux", Arch: "arm64", AgentVersion: "1.0", IdentityKey: pub, SealKey: seal.PublicKey().Bytes()}
	m.SealKeySig = ed25519.Sign(priv, SealKeyMessage(m.SealKey))
	return m, priv, seal
}

func TestAnnounceHelloValidation(t *testing.T) {
	m, _, _ := newAnnounce(t)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if !ValidPendingID(m.Client) {
		t.Fatalf("PendingID %q is not a valid pending id", m.Client)
	}
	other, otherPriv, _ := newAnnounce(t)
	cases := map[string]func(*AnnounceHello){
		"someone else's client id": func(x *AnnounceHello) { x.Client = other.Client },
		"seal key signed by another key": func(x *AnnounceHello) {
			x.SealKeySig = ed25519.Sign(otherPriv, SealKeyMessage(x.SealKey))
		},
		"swapped seal key": func(x *AnnounceHello) { x.SealKey = other.SealKey },
		"short key":        func(x *AnnounceHello) { x.IdentityKey = x.IdentityKey[:10] },
		"host set":         func(x *AnnounceHello) { x.Host = RandomID(HostIDPrefix) },
		"no hostname":      func(x *AnnounceHello) { x.Hostname = "" },
	}
	for name, mutate := range cases {
		c := *m
		mutate(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSealOpen(t *testing.T) {
	_, _, seal := newAnnounce(t)
	creds := []byte(`{"host_id":"h_abc","mqtt_password":"s3cret"}`)
	sealed, err := SealCredentials(seal.PublicKey().Bytes(), creds)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("s3cret")) {
		t.Fatal("sealed bytes contain the plaintext")
	}
	got, err := OpenCredentials(seal, sealed)
	if err != nil || !bytes.Equal(got, creds) {
		t.Fatalf("open: %q %v", got, err)
	}
	// Another key (a client that took over the pending ID) cannot open it.
	_, _, thief := newAnnounce(t)
	if _, err := OpenCredentials(thief, sealed); err == nil {
		t.Fatal("credentials opened with another key")
	}
	// Tampering is detected.
	sealed[len(sealed)-1] ^= 1
	if _, err := OpenCredentials(seal, sealed); err == nil {
		t.Fatal("tampered credentials opened")
	}
	if _, err := OpenCredentials(seal, sealed[:20]); err == nil {
		t.Fatal("truncated input opened")
	}
}

func FuzzDecodeAnnounce(f *testing.F) {
	m, priv, _ := newAnnounce(f)
	hello, _ := json.Marshal(m)
	proof, _ := json.Marshal(&AnnounceProof{Envelope: NewEnvelope(TypeAnnounceProof, ""), Client: m.Client,
		Nonce: make([]byte, 32), Signature: ed25519.Sign(priv, []byte("x"))})
	f.Add(hello)
	f.Add(proof)
	f.Add([]byte(`{"v":1,"type":"announce.status","state":"approved"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var h AnnounceHello
		if Decode(data, &h) == nil && h.Client != PendingID(h.IdentityKey) {
			t.Fatal("accepted a hello whose client id is not its key's")
		}
		var p AnnounceProof
		_ = Decode(data, &p)
		var s AnnounceStatus
		if Decode(data, &s) == nil && s.State == AnnounceApproved && len(s.Sealed) == 0 {
			t.Fatal("accepted an approval without credentials")
		}
		var c AnnounceChallenge
		_ = Decode(data, &c)
	})
}
