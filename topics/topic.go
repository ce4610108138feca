package topics

import (
	"errors"
	"fmt"
	"strings"
)

// Prefix is the root of every topic this protocol uses; the version in it is
// the topic-tree version, independent of the envelope's ProtocolVersion.
const Prefix = "rm/v1"

// Kind names one row of the topic table in DESIGN §3.
type Kind int

// The topic kinds. KindUnknown is the zero value and never valid.
const (
	KindUnknown       Kind = iota
	KindHello              // rm/v1/hosts/{h}/up/hello
	KindStatus             // rm/v1/hosts/{h}/up/status
	KindJobEvent           // rm/v1/hosts/{h}/up/job/{j}/event
	KindJobLog             // rm/v1/hosts/{h}/up/job/{j}/log
	KindJobProgress        // rm/v1/hosts/{h}/up/job/{j}/progress
	KindCmd                // rm/v1/hosts/{h}/down/cmd
	KindConfig             // rm/v1/hosts/{h}/down/config
	KindAck                // rm/v1/hosts/{h}/down/ack
	KindAnnounceReq        // rm/v1/announce/{c}/req
	KindAnnounceResp       // rm/v1/announce/{c}/resp
	KindMonitorHost        // rm/v1/monitor/hosts/{h}
	KindMonitorEvents      // rm/v1/monitor/events
	KindSnapshots          // rm/v1/hosts/{h}/up/snapshots (added by #3: the host's snapshot list)
	KindUpgrade            // rm/v1/hosts/{h}/up/upgrade (added by #11: how an agent upgrade went)
	KindMonitorHA          // rm/v1/monitor/homeassistant/{component}/{h}/{entity}/config (#13, monitor_ha.go)
	KindQuery              // rm/v1/hosts/{h}/down/query (#14, query.go: browse, find, diff)
	KindReply              // rm/v1/hosts/{h}/up/reply (#14: the answer to a query)
)

var kindNames = [...]string{"unknown", "hello", "status", "job-event", "job-log", "job-progress",
	"cmd", "config", "ack", "announce-req", "announce-resp", "monitor-host", "monitor-events", "snapshots", "upgrade", "monitor-ha-config", "query", "reply"}

// String returns a short name for logs and metrics labels.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "unknown"
	}
	return kindNames[k]
}

// Topic is a parsed topic name. Only the fields its Kind uses are set.
type Topic struct {
	Kind   Kind
	Host   string // host ID, for hosts/ and monitor/hosts/ topics
	Job    string // job ID, for up/job/ topics
	Client string // pending client ID, for announce/ topics
	// Entity is a Home Assistant entity of a host (HAEntities), for
	// monitor/homeassistant/ topics.
	Entity string
}

// String builds the topic name. It panics on an invalid Topic because building
// a bad topic is a programming error, never an input error; use Validate first
// when the fields come from outside.
func (t Topic) String() string {
	if err := t.Validate(); err != nil {
		panic("topics: " + err.Error())
	}
	switch t.Kind {
	case KindHello:
		return Prefix + "/hosts/" + t.Host + "/up/hello"
	case KindStatus:
		return Prefix + "/hosts/" + t.Host + "/up/status"
	case KindSnapshots:
		return Prefix + "/hosts/" + t.Host + "/up/snapshots"
	case KindUpgrade:
		return Prefix + "/hosts/" + t.Host + "/up/upgrade"
	case KindJobEvent:
		return Prefix + "/hosts/" + t.Host + "/up/job/" + t.Job + "/event"
	case KindJobLog:
		return Prefix + "/hosts/" + t.Host + "/up/job/" + t.Job + "/log"
	case KindJobProgress:
		return Prefix + "/hosts/" + t.Host + "/up/job/" + t.Job + "/progress"
	case KindCmd:
		return Prefix + "/hosts/" + t.Host + "/down/cmd"
	case KindConfig:
		return Prefix + "/hosts/" + t.Host + "/down/config"
	case KindAck:
		return Prefix + "/hosts/" + t.Host + "/down/ack"
	case KindQuery:
		return Prefix + "/hosts/" + t.Host + "/down/query"
	case KindReply:
		return Prefix + "/hosts/" + t.Host + "/up/reply"
	case KindAnnounceReq:
		return Prefix + "/announce/" + t.Client + "/req"
	case KindAnnounceResp:
		return Prefix + "/announce/" + t.Client + "/resp"
	case KindMonitorHost:
		return Prefix + "/monitor/hosts/" + t.Host
	case KindMonitorHA:
		return HADiscoveryPrefix + "/" + haComponent(t.Entity) + "/" + t.Host + "/" + t.Entity + "/config"
	default: // KindMonitorEvents
		return Prefix + "/monitor/events"
	}
}

// Validate checks that the fields the Kind needs are present and well formed
// and that no other field is set.
func (t Topic) Validate() error {
	needHost, needJob, needClient := false, false, false
	switch t.Kind {
	case KindHello, KindStatus, KindSnapshots, KindUpgrade, KindCmd, KindConfig, KindAck, KindMonitorHost, KindQuery, KindReply:
		needHost = true
	case KindMonitorHA:
		needHost = true
		if haComponent(t.Entity) == "" {
			return fmt.Errorf("unknown Home Assistant entity %q", clip(t.Entity))
		}
	case KindJobEvent, KindJobLog, KindJobProgress:
		needHost, needJob = true, true
	case KindAnnounceReq, KindAnnounceResp:
		needClient = true
	case KindMonitorEvents:
	default:
		return errors.New("unknown topic kind")
	}
	if err := checkField("host", t.Host, needHost, ValidHostID); err != nil {
		return err
	}
	if err := checkField("job", t.Job, needJob, ValidID); err != nil {
		return err
	}
	if t.Kind != KindMonitorHA && t.Entity != "" {
		return errors.New("entity not allowed for this topic")
	}
	return checkField("client", t.Client, needClient, ValidPendingID)
}

func checkField(name, v string, need bool, valid func(string) bool) error {
	switch {
	case need && !valid(v):
		return fmt.Errorf("invalid %s id %q", name, v)
	case !need && v != "":
		return fmt.Errorf("%s id not allowed for this topic", name)
	}
	return nil
}

// Builders for the topics in DESIGN §3. They panic on invalid IDs (see String).

// HelloTopic is rm/v1/hosts/{h}/up/hello.
func HelloTopic(h string) string { return Topic{Kind: KindHello, Host: h}.String() }

// StatusTopic is rm/v1/hosts/{h}/up/status (heartbeat and Last Will).
func StatusTopic(h string) string { return Topic{Kind: KindStatus, Host: h}.String() }

// SnapshotsTopic is rm/v1/hosts/{h}/up/snapshots.
func SnapshotsTopic(h string) string { return Topic{Kind: KindSnapshots, Host: h}.String() }

// JobEventTopic is rm/v1/hosts/{h}/up/job/{j}/event.
func JobEventTopic(h, j string) string { return Topic{Kind: KindJobEvent, Host: h, Job: j}.String() }

// JobLogTopic is rm/v1/hosts/{h}/up/job/{j}/log.
func JobLogTopic(h, j string) string { return Topic{Kind: KindJobLog, Host: h, Job: j}.String() }

// JobProgressTopic is rm/v1/hosts/{h}/up/job/{j}/progress.
func JobProgressTopic(h, j string) string {
	return Topic{Kind: KindJobProgress, Host: h, Job: j}.String()
}

// CmdTopic is rm/v1/hosts/{h}/down/cmd.
func CmdTopic(h string) string { return Topic{Kind: KindCmd, Host: h}.String() }

// ConfigTopic is rm/v1/hosts/{h}/down/config.
func ConfigTopic(h string) string { return Topic{Kind: KindConfig, Host: h}.String() }

// AckTopic is rm/v1/hosts/{h}/down/ack.
func AckTopic(h string) string { return Topic{Kind: KindAck, Host: h}.String() }

// QueryTopic is rm/v1/hosts/{h}/down/query.
func QueryTopic(h string) string { return Topic{Kind: KindQuery, Host: h}.String() }

// ReplyTopic is rm/v1/hosts/{h}/up/reply.
func ReplyTopic(h string) string { return Topic{Kind: KindReply, Host: h}.String() }

// AnnounceReqTopic is rm/v1/announce/{c}/req.
func AnnounceReqTopic(c string) string { return Topic{Kind: KindAnnounceReq, Client: c}.String() }

// AnnounceRespTopic is rm/v1/announce/{c}/resp.
func AnnounceRespTopic(c string) string { return Topic{Kind: KindAnnounceResp, Client: c}.String() }

// MonitorHostTopic is rm/v1/monitor/hosts/{h} (retained host state).
func MonitorHostTopic(h string) string { return Topic{Kind: KindMonitorHost, Host: h}.String() }

// MonitorEventsTopic is rm/v1/monitor/events.
func MonitorEventsTopic() string { return Topic{Kind: KindMonitorEvents}.String() }

// Filters an ACL or a subscriber uses. They are exact strings, built here so
// the broker and the clients cannot disagree about them.

// HostUpFilter is rm/v1/hosts/{h}/up/#: everything host h may publish.
func HostUpFilter(h string) string { return Prefix + "/hosts/" + h + "/up/#" }

// HostDownFilter is rm/v1/hosts/{h}/down/#: everything host h may subscribe to.
func HostDownFilter(h string) string { return Prefix + "/hosts/" + h + "/down/#" }

// AllHostsUpFilter is rm/v1/hosts/+/up/#, the server's inline subscription.
const AllHostsUpFilter = Prefix + "/hosts/+/up/#"

// The filters of one kind of up topic for every host (and every job), for
// a server replica's subscriptions to an external broker (#15): some go
// through the share group, some to every replica (server.SharedUpFilters,
// server.ObservedUpFilters).
const (
	AllHostsHelloFilter     = Prefix + "/hosts/+/up/hello"
	AllHostsStatusFilter    = Prefix + "/hosts/+/up/status"
	AllHostsJobEventFilter  = Prefix + "/hosts/+/up/job/+/event"
	AllHostsJobLogFilter    = Prefix + "/hosts/+/up/job/+/log"
	AllHostsProgressFilter  = Prefix + "/hosts/+/up/job/+/progress"
	AllHostsSnapshotsFilter = Prefix + "/hosts/+/up/snapshots"
	AllHostsUpgradeFilter   = Prefix + "/hosts/+/up/upgrade"
	AllHostsReplyFilter     = Prefix + "/hosts/+/up/reply"
)

// AllAnnounceReqFilter is rm/v1/announce/+/req, the server's inline subscription.
const AllAnnounceReqFilter = Prefix + "/announce/+/req"

// MonitorFilter is rm/v1/monitor/#, what a monitor account may subscribe to.
const MonitorFilter = Prefix + "/monitor/#"

// Parse splits a concrete topic name (no wildcards) into a Topic. Anything that
// is not exactly one of the rows of DESIGN §3 is an error.
func Parse(name string) (Topic, error) {
	rest, ok := strings.CutPrefix(name, Prefix+"/")
	if !ok {
		return Topic{}, fmt.Errorf("topic %q: not under %s", clip(name), Prefix)
	}
	p := strings.Split(rest, "/")
	var t Topic
	switch {
	case len(p) == 4 && p[0] == "hosts" && p[2] == "up":
		t.Host = p[1]
		switch p[3] {
		case "hello":
			t.Kind = KindHello
		case "status":
			t.Kind = KindStatus
		case "snapshots":
			t.Kind = KindSnapshots
		case "upgrade":
			t.Kind = KindUpgrade
		case "reply":
			t.Kind = KindReply
		}
	case len(p) == 6 && p[0] == "hosts" && p[2] == "up" && p[3] == "job":
		t.Host, t.Job = p[1], p[4]
		switch p[5] {
		case "event":
			t.Kind = KindJobEvent
		case "log":
			t.Kind = KindJobLog
		case "progress":
			t.Kind = KindJobProgress
		}
	case len(p) == 4 && p[0] == "hosts" && p[2] == "down":
		t.Host = p[1]
		switch p[3] {
		case "cmd":
			t.Kind = KindCmd
		case "config":
			t.Kind = KindConfig
		case "ack":
			t.Kind = KindAck
		case "query":
			t.Kind = KindQuery
		}
	case len(p) == 3 && p[0] == "announce":
		t.Client = p[1]
		switch p[2] {
		case "req":
			t.Kind = KindAnnounceReq
		case "resp":
			t.Kind = KindAnnounceResp
		}
	case len(p) == 3 && p[0] == "monitor" && p[1] == "hosts":
		t.Kind, t.Host = KindMonitorHost, p[2]
	case len(p) == 2 && p[0] == "monitor" && p[1] == "events":
		t.Kind = KindMonitorEvents
	case len(p) == 6 && p[0] == "monitor" && p[1] == "homeassistant" && p[5] == "config" && haComponent(p[4]) == p[2]:
		t.Kind, t.Host, t.Entity = KindMonitorHA, p[3], p[4]
	}
	if t.Kind == KindUnknown {
		return Topic{}, fmt.Errorf("topic %q: not a known topic", clip(name))
	}
	if err := t.Validate(); err != nil {
		return Topic{}, fmt.Errorf("topic %q: %w", clip(name), err)
	}
	return t, nil
}

// clip shortens untrusted strings before they go into an error or a log line.
func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
