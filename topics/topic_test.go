package topics

import (
	"strings"
	"testing"
)

func TestBuildParseRoundTrip(t *testing.T) {
	h, j, c := RandomID(HostIDPrefix), "job-1", RandomID(PendingIDPrefix)
	cases := []struct {
		name string
		want Topic
	}{
		{HelloTopic(h), Topic{Kind: KindHello, Host: h}},
		{StatusTopic(h), Topic{Kind: KindStatus, Host: h}},
		{JobEventTopic(h, j), Topic{Kind: KindJobEvent, Host: h, Job: j}},
		{JobLogTopic(h, j), Topic{Kind: KindJobLog, Host: h, Job: j}},
		{JobProgressTopic(h, j), Topic{Kind: KindJobProgress, Host: h, Job: j}},
		{CmdTopic(h), Topic{Kind: KindCmd, Host: h}},
		{ConfigTopic(h), Topic{Kind: KindConfig, Host: h}},
		{AckTopic(h), Topic{Kind: KindAck, Host: h}},
		{QueryTopic(h), Topic{Kind: KindQuery, Host: h}},
		{ReplyTopic(h), Topic{Kind: KindReply, Host: h}},
		{AnnounceReqTopic(c), Topic{Kind: KindAnnounceReq, Client: c}},
		{AnnounceRespTopic(c), Topic{Kind: KindAnnounceResp, Client: c}},
		{MonitorHostTopic(h), Topic{Kind: KindMonitorHost, Host: h}},
		{MonitorEventsTopic(), Topic{Kind: KindMonitorEvents}},
	}
	for _, tc := range cases {
		got, err := Parse(tc.name)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.name, got, tc.want)
		}
		if got.String() != tc.name {
			t.Errorf("String() = %q, want %q", got.String(), tc.name)
		}
	}
}

func TestParseRejects(t *testing.T) {
	h := RandomID(HostIDPrefix)
	bad := []string{
		"", "rm/v1", "rm/v2/hosts/" + h + "/up/hello", "rm/v1/hosts/" + h + "/up/hello/extra",
		"rm/v1/hosts/+/up/hello", "rm/v1/hosts/#", "rm/v1/hosts/H_UPPER/up/hello",
		"rm/v1/hosts/" + h + "/up/nope", "rm/v1/hosts/" + h + "/down/hello",
		"rm/v1/hosts/" + h + "/up/query", "rm/v1/hosts/" + h + "/down/reply", "rm/v1/hosts/" + h + "/down/query/x",
		"rm/v1/hosts/p_pendingclient/up/hello", // pending IDs are not host IDs
		"rm/v1/announce/" + h + "/req",         // host IDs are not pending IDs
		"rm/v1/hosts/" + h + "/up/job//event", "rm/v1/hosts/" + h + "/up/job/a+b/event",
		"rm/v1/monitor/hosts", "rm/v1/monitor/events/x", "/rm/v1/monitor/events",
		"rm/v1/hosts/h_" + strings.Repeat("a", 80) + "/up/hello",
	}
	for _, name := range bad {
		if tp, err := Parse(name); err == nil {
			t.Errorf("Parse(%q) = %+v, want error", name, tp)
		}
	}
}

func TestValidID(t *testing.T) {
	good := []string{"abc", "h_abc", "job-42", RandomID(HostIDPrefix), strings.Repeat("a", 64)}
	bad := []string{"", "ab", "_ab", "-ab", "a/b", "a+b", "a#b", "AbC", "a b", "a\x00b", strings.Repeat("a", 65), "é12"}
	for _, s := range good {
		if !ValidID(s) {
			t.Errorf("ValidID(%q) = false", s)
		}
	}
	for _, s := range bad {
		if ValidID(s) {
			t.Errorf("ValidID(%q) = true", s)
		}
	}
}

func TestBuilderPanicsOnBadID(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("HelloTopic with a wildcard id did not panic")
		}
	}()
	HelloTopic("h_+")
}

func TestMessageIDsOrdered(t *testing.T) {
	prev := ""
	for i := 0; i < 1000; i++ {
		id := NewMessageID()
		if len(id) != 36 || id[14] != '7' {
			t.Fatalf("not a UUIDv7: %q", id)
		}
		if id <= prev {
			t.Fatalf("ids not increasing: %q then %q", prev, id)
		}
		prev = id
	}
}

func FuzzParse(f *testing.F) {
	h := RandomID(HostIDPrefix)
	for _, s := range []string{HelloTopic(h), JobLogTopic(h, "j1x"), AnnounceReqTopic("p_abc"), MonitorEventsTopic(),
		"rm/v1/hosts/+/up/#", "rm/v1//", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		tp, err := Parse(name)
		if err != nil {
			return
		}
		// Anything accepted must rebuild to exactly the same name.
		if got := tp.String(); got != name {
			t.Fatalf("Parse(%q).String() = %q", name, got)
		}
		if strings.ContainsAny(name, "+#") {
			t.Fatalf("accepted a wildcard: %q", name)
		}
	})
}
