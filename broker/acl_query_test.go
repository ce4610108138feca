package broker_test

import (
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// TestACLQueryTopics (#14): a host may subscribe to its own down/query
// (by name, or through down/# and down/+) and receives queries there, may
// publish its own up/reply, and nothing else changes: another host's
// query and reply stay out of reach.
func TestACLQueryTopics(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	up := tb.inbox(t, topics.AllHostsUpFilter)
	byName, byWildcard := mustPaho(t, tb.addr, hostA), mustPaho(t, tb.addr, hostB)
	for _, c := range []struct {
		client *pahoClient
		filter string
		want   byte
	}{
		{byName, topics.QueryTopic(hostA), 1},
		{byName, topics.QueryTopic(hostB), 0x80},
		{byName, topics.ReplyTopic(hostA), 0x80},
		{byWildcard, topics.HostDownFilter(hostB), 1},
		{byWildcard, "rm/v1/hosts/" + hostB + "/down/+", 1},
	} {
		if code := subscribe(t, c.client, c.filter); code != c.want {
			t.Errorf("subscribe %q: SUBACK %#x, want %#x", c.filter, code, c.want)
		}
	}
	for _, topic := range []string{topics.QueryTopic(hostA), topics.QueryTopic(hostB)} {
		if err := tb.Publish(topic, payload(topic), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "A's query", func() bool { return len(byName.messages()) > 0 })
	// B holds down/# and down/+: one delivery per matching subscription.
	waitFor(t, "B's query", func() bool { return len(byWildcard.messages()) > 0 })
	barrier(t, byName)
	barrier(t, byWildcard)
	for who, c := range map[string]*pahoClient{hostA: byName, hostB: byWildcard} {
		for _, m := range c.messages() {
			if m.Topic() != topics.QueryTopic(who) {
				t.Errorf("%s received %q, outside its ACL", who, m.Topic())
			}
		}
	}

	wait(t, "reply A", byName.Publish(topics.ReplyTopic(hostA), 1, false, payload("reply A")))
	wait(t, "forged reply", byName.Publish(topics.ReplyTopic(hostB), 1, false, payload("forged")))
	wait(t, "query as a host", byName.Publish(topics.QueryTopic(hostA), 1, false, payload("query from a host")))
	barrier(t, byName)
	waitFor(t, "A's reply", func() bool { return len(up.onTopic(topics.ReplyTopic(hostA))) == 1 })
	if n := len(up.onTopic(topics.ReplyTopic(hostB))); n != 0 {
		t.Errorf("A's reply on B's topic was delivered %d times", n)
	}
	if n := len(byName.messages()); n != 1 {
		t.Errorf("A received %d messages, want its one query (a host cannot publish a query)", n)
	}
}
