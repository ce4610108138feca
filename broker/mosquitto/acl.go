package mosquitto

import (
	"github.com/restic-manager/restic-manager/topics"
)

// aclEntry is one ACL of a dynamic-security role.
type aclEntry struct {
	Type  string `json:"acltype"`
	Topic string `json:"topic"`
	Allow bool   `json:"allow"`
}

// The dynamic-security ACL types used here. Everything not allowed is denied
// by the plugin's default access (docs/mqtt.md gives the settings), except
// publishClientReceive: a client receives what its subscriptions, which are
// checked, match.
const (
	aclPublish          = "publishClientSend"
	aclSubscribePattern = "subscribePattern"
	aclSubscribeLiteral = "subscribeLiteral"
)

// MonitorRole is the one role every monitor account shares.
const MonitorRole = "rm-monitor"

// hostRole is the name of host id's own role.
func hostRole(id string) string { return "rm-host-" + id }

// hostACL is the host row of DESIGN §3, as the embedded broker enforces it
// (broker/acl.go): publish anywhere under its own up/, subscribe to its own
// down/ (any filter within it), nothing else.
func hostACL(id string) []aclEntry {
	return []aclEntry{
		{Type: aclPublish, Topic: topics.HostUpFilter(id), Allow: true},
		{Type: aclSubscribePattern, Topic: topics.HostDownFilter(id), Allow: true},
	}
}

// monitorACL is the monitor row: read the monitor feed (Home Assistant's
// discovery configs included, they live under it), publish nothing.
func monitorACL() []aclEntry {
	return []aclEntry{{Type: aclSubscribePattern, Topic: topics.MonitorFilter, Allow: true}}
}

// pendingRole is the name of pending client id's own role.
func pendingRole(id string) string { return "rm-pending-" + id }

// pendingACL is the pending row (broker/acl.go): publish its own announce
// request, subscribe to exactly its own announce answer topic, nothing else.
func pendingACL(id string) []aclEntry {
	return []aclEntry{
		{Type: aclPublish, Topic: topics.AnnounceReqTopic(id), Allow: true},
		{Type: aclSubscribeLiteral, Topic: topics.AnnounceRespTopic(id), Allow: true},
	}
}
