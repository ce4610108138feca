package web

import (
	"slices"
	"strings"

	"github.com/restic-manager/restic-manager/server"
)

// hostsTagged keeps the hosts carrying tag (all of them for ""). The tag
// is folded and checked by the domain's rule, so "Site:Lyon" finds
// site:lyon and a malformed tag is refused with the rule's sentence.
func hostsTagged(hosts []server.Host, tag string) ([]server.Host, error) {
	if strings.TrimSpace(tag) == "" {
		return hosts, nil
	}
	t, err := server.NormalizeHostTag(tag)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(hosts, func(h server.Host) bool { return !slices.Contains(h.Tags, t) }), nil
}

// fleetTags is every tag some host carries, sorted: the dashboard's tag
// filter and "select by tag" offer them.
func fleetTags(hosts []server.Host) []string {
	var out []string
	for _, h := range hosts {
		out = append(out, h.Tags...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
