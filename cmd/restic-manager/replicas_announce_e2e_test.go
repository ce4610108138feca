package main

import (
	"crypto/ed25519"
	"net/http"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/topics"
)

// TestReplicasAnnounceThroughEither: machines announce through two
// replicas sharing Mosquitto's `$share/…/rm/v1/announce/+/req`, which hands
// a hello to one replica and its proof, as often as not, to the other. Each
// pending identity (registered through alternating replicas, as a load
// balancer would) gets its challenge and, for its proof, "pending"; every
// machine is listed by both replicas; and both replicas took part in the
// exchanges (the challenge one replica issued was checked by another).
func TestReplicasAnnounceThroughEither(t *testing.T) {
	t.Parallel()
	rs := startReplicas(t, 2)
	const machines = 4
	fingerprints := make(map[string]bool)
	for i := range machines {
		pub, priv, _ := ed25519.GenerateKey(nil)
		id := topics.PendingID(pub)
		password := "replicas-announce-password-" + itoa(int64(i))
		if code, body := bootstrapPOST(t, rs.m[i%2], priv, id, password); code != http.StatusOK {
			t.Fatalf("bootstrap %d through replica %d: HTTP %d %s", i, i%2, code, body)
		}
		c := mqttClient(t, rs.broker.URL.Host, id, password)
		answers := make(chan []byte, 4)
		if tok := c.Subscribe(topics.AnnounceRespTopic(id), 1, func(_ paho.Client, m paho.Message) { answers <- m.Payload() }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe to the answers: %v", tok.Error())
		}
		publish := func(what string, m topics.Payload) {
			t.Helper()
			b, err := topics.Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			if tok := c.Publish(topics.AnnounceReqTopic(id), 1, false, b); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("publish the %s: %v", what, tok.Error())
			}
		}
		answer := func(what string, m topics.Payload) {
			t.Helper()
			select {
			case b := <-answers:
				if err := topics.Decode(b, m); err != nil {
					t.Fatalf("machine %d: the answer to its %s: %v (%s)", i, what, err, b)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("machine %d: no answer to its %s\nmosquitto:\n%s", i, what, rs.broker.Log())
			}
		}
		_, seal, _ := ed25519.GenerateKey(nil)
		sealKey := seal.Public().(ed25519.PublicKey)
		publish("hello", &topics.AnnounceHello{Envelope: topics.NewEnvelope(topics.TypeAnnounceHello, ""), Client: id,
			Hostname: "box-" + itoa(int64(i)), OS: "linux", Arch: "amd64", AgentVersion: "test", IdentityKey: pub, SealKey: sealKey,
			SealKeySig: ed25519.Sign(priv, topics.SealKeyMessage(sealKey))})
		var ch topics.AnnounceChallenge
		answer("hello", &ch)
		publish("proof", &topics.AnnounceProof{Envelope: topics.NewEnvelope(topics.TypeAnnounceProof, ""), Client: id,
			Nonce: ch.Nonce, Signature: ed25519.Sign(priv, topics.ProofMessage(id, ch.Nonce, sealKey))})
		var st topics.AnnounceStatus
		answer("proof", &st)
		if st.State != topics.AnnouncePending || st.Fingerprint != topics.KeyFingerprint(pub) {
			t.Fatalf("machine %d: status %+v, want pending", i, st)
		}
		fingerprints[st.Fingerprint] = true
		c.Disconnect(0)
	}
	for r := range rs.m {
		var list struct {
			Pending []struct {
				Fingerprint string `json:"fingerprint"`
			} `json:"pending_hosts"`
		}
		if code := rs.api(r).do("GET", "/api/v1/pending-hosts", nil, &list); code != http.StatusOK {
			t.Fatalf("pending hosts on replica %d: HTTP %d", r, code)
		}
		n := 0
		for _, p := range list.Pending {
			if fingerprints[p.Fingerprint] {
				n++
			}
		}
		if n != machines {
			t.Fatalf("replica %d lists %d of the %d machines", r, n, machines)
		}
		// Challenges issued and proofs accepted: no other traffic here.
		if got := rs.m[r].Service().Stats().Accepted.Load(); got == 0 {
			t.Fatalf("replica %d handled none of the announces: the share group did not split them", r)
		}
	}
}
