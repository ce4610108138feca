package topics_test

import (
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// matches is MQTT's filter matching (+ one level, # the rest), enough to
// check the filters against the topics they are meant for.
func matches(filter, topic string) bool {
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, level := range f {
		switch {
		case level == "#":
			return true
		case i >= len(t):
			return false
		case level != "+" && level != t[i]:
			return false
		}
	}
	return len(f) == len(t)
}

// Each per-kind filter of every host matches exactly its kind's topics,
// and every one of them lies within AllHostsUpFilter.
func TestAllHostsFiltersMatchTheirKindOnly(t *testing.T) {
	h, j := topics.RandomID(topics.HostIDPrefix), topics.RandomID(topics.JobIDPrefix)
	built := map[topics.Kind]string{
		topics.KindHello: topics.HelloTopic(h), topics.KindStatus: topics.StatusTopic(h),
		topics.KindJobEvent: topics.JobEventTopic(h, j), topics.KindJobLog: topics.JobLogTopic(h, j),
		topics.KindJobProgress: topics.JobProgressTopic(h, j), topics.KindSnapshots: topics.SnapshotsTopic(h),
		topics.KindUpgrade: topics.Topic{Kind: topics.KindUpgrade, Host: h}.String(), topics.KindReply: topics.ReplyTopic(h),
	}
	filters := map[topics.Kind]string{
		topics.KindHello: topics.AllHostsHelloFilter, topics.KindStatus: topics.AllHostsStatusFilter,
		topics.KindJobEvent: topics.AllHostsJobEventFilter, topics.KindJobLog: topics.AllHostsJobLogFilter,
		topics.KindJobProgress: topics.AllHostsProgressFilter, topics.KindSnapshots: topics.AllHostsSnapshotsFilter,
		topics.KindUpgrade: topics.AllHostsUpgradeFilter, topics.KindReply: topics.AllHostsReplyFilter,
	}
	for fk, f := range filters {
		if !matches(topics.AllHostsUpFilter, strings.ReplaceAll(f, "+", "x")) {
			t.Errorf("%s is not within %s", f, topics.AllHostsUpFilter)
		}
		for tk, tp := range built {
			if got := matches(f, tp); got != (fk == tk) {
				t.Errorf("filter %s matches %s: %v", f, tp, got)
			}
		}
	}
}
