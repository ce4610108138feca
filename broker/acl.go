package broker

import (
	"strings"

	"github.com/restic-manager/restic-manager/topics"
)

// The ACL of DESIGN §3, exact:
//
//	who          publish                    subscribe
//	host h       rm/v1/hosts/h/up/#         rm/v1/hosts/h/down/#
//	pending c    rm/v1/announce/c/req       rm/v1/announce/c/resp
//	monitor      nothing                    rm/v1/monitor/#
//	inline       anything                   anything (checked by the caller, not here)
//
// A client may use wildcards only inside its own subtree: a subscription is
// allowed when every topic it could ever match is matched by one of the
// client's allowed filters. Shared subscriptions ($share/...) and $SYS are
// therefore never allowed to a network client.

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

// subscribeFilters returns the filters inside which id may subscribe.
func subscribeFilters(id Identity) []string {
	if !validIdentity(id) {
		return nil
	}
	switch id.Role {
	case RoleHost:
		return []string{topics.HostDownFilter(id.ID)}
	case RolePending:
		return []string{topics.AnnounceRespTopic(id.ID)}
	case RoleMonitor:
		return []string{topics.MonitorFilter}
	}
	return nil
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

// canSubscribe reports whether id may subscribe to filter.
func canSubscribe(id Identity, filter string) bool {
	return withinAny(filter, subscribeFilters(id))
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
