package broker

import (
	"slices"
	"strings"

	"github.com/restic-manager/restic-manager/topics"
)

// The ACL of DESIGN §3, exact:
//
//	who          publish                    subscribe (and receive)
//	host h       rm/v1/hosts/h/up/#         rm/v1/hosts/h/down/#, .../down/+, .../down/{cmd,config,ack,query}
//	pending c    rm/v1/announce/c/req       rm/v1/announce/c/resp
//	monitor      nothing                    rm/v1/monitor/#, .../monitor/hosts/+, .../monitor/hosts/#,
//	                                        .../monitor/hosts/{h}, .../monitor/events, Home Assistant's
//	                                        discovery filters under .../monitor/homeassistant (#13)
//	inline       anything                   anything (checked by the caller, not here)
//
// Publishing is allowed to any topic name inside the client's own subtree.
// Subscribing is an exact allow-list: the filters above and nothing else, so
// a client cannot make the broker build index entries it never needs (a
// filter of thousands of levels under down/# cost mochi seconds of CPU and
// megabytes of memory, #9). Shared subscriptions ($share/...) and $SYS are
// therefore never allowed to a network client. The same list decides which
// topic names a client may receive: every topic the server publishes to a
// client is one of the concrete names in it.
// publishFilters returns the filters whose topics id may publish to.
func publishFilters(id Identity) []string {
	if !validIdentity(id) {
		return nil
	}
	switch id.Role {
	case RoleHost:
		return []string{topics.HostUpFilter(id.ID)}
	case RolePending:
		return []string{topics.AnnounceReqTopic(id.ID)}
	}
	return nil // monitors publish nothing
}

// subscribeFilters returns the wildcard filters id may subscribe to. The
// concrete topic names it may subscribe to are judged by subscribableTopic.
func subscribeFilters(id Identity) []string {
	if !validIdentity(id) {
		return nil
	}
	switch id.Role {
	case RoleHost:
		down := topics.HostDownFilter(id.ID) // .../down/#
		return []string{down, strings.TrimSuffix(down, "#") + "+"}
	case RoleMonitor:
		hosts := topics.Prefix + "/monitor/hosts/"
		return append([]string{topics.MonitorFilter, hosts + "+", hosts + "#"}, topics.HADiscoveryFilters()...)
	}
	return nil // a pending client subscribes to one topic name
}

// subscribableTopic reports whether id may subscribe to, and receive, the
// topic name t.
func subscribableTopic(id Identity, t topics.Topic) bool {
	switch id.Role {
	case RoleHost:
		return (t.Kind == topics.KindCmd || t.Kind == topics.KindConfig || t.Kind == topics.KindAck || t.Kind == topics.KindQuery) &&
			t.Host == id.ID
	case RolePending:
		return t.Kind == topics.KindAnnounceResp && t.Client == id.ID
	case RoleMonitor:
		return t.Kind == topics.KindMonitorHost || t.Kind == topics.KindMonitorEvents || t.Kind == topics.KindMonitorHA
	}
	return false
}

// agentsTopic reports whether a host or pending client may subscribe to
// the topic name.
func agentsTopic(topic string) bool {
	t, err := topics.Parse(topic)
	return err == nil && (subscribableTopic(Identity{Role: RoleHost, ID: t.Host}, t) ||
		subscribableTopic(Identity{Role: RolePending, ID: t.Client}, t))
}

// validIdentity reports whether id's role agrees with its ID's prefix, so the
// ID can safely be used to build topic filters.
func validIdentity(id Identity) bool {
	parsed, err := ParseIdentity(id.ID)
	return err == nil && parsed == id
}

// canPublish reports whether id may publish to the topic name (no wildcards).
func canPublish(id Identity, topic string) bool {
	if strings.ContainsAny(topic, "+#") {
		return false
	}
	return withinAny(topic, publishFilters(id))
}

// canSubscribe reports whether id may subscribe to filter, or receive a
// message on the topic name filter: it is one of id's wildcard filters, or a
// topic name of a kind id may receive. The length and depth limits
// (subscribeHook) are checked before, so the filter is short here.
func canSubscribe(id Identity, filter string) bool {
	if !validIdentity(id) || filter == "" {
		return false
	}
	if strings.ContainsAny(filter, "+#") {
		return slices.Contains(subscribeFilters(id), filter)
	}
	t, err := topics.Parse(filter)
	return err == nil && subscribableTopic(id, t)
}

func withinAny(filter string, allowed []string) bool {
	for _, a := range allowed {
		if filterWithin(filter, a) {
			return true
		}
	}
	return false
}

// filterWithin reports whether every topic name matched by filter f is also
// matched by the allowed filter a. A topic name (no wildcards) is a filter
// matching only itself, so this also answers "may publish to topic f".
func filterWithin(f, a string) bool {
	if f == "" {
		return false
	}
	fl, al := strings.Split(f, "/"), strings.Split(a, "/")
	for i, alev := range al {
		if alev == "#" {
			// "x/#" matches "x" itself and anything below it, whatever
			// wildcards f uses from here on.
			return true
		}
		if i >= len(fl) {
			return false
		}
		flev := fl[i]
		switch {
		case flev == "#":
			return false // f reaches into levels a does not cover
		case alev == "+":
			// any single level of f, literal or '+', stays inside
		case flev == "+":
			return false // f matches any value where a wants one literal
		case flev != alev:
			return false
		}
	}
	return len(fl) == len(al)
}
