package web

import (
	"context"
	"html"
	"regexp"
	"strings"

	"github.com/restic-manager/restic-manager/server"
)

// hostNames gives the internal ids a host's agent writes into job logs and
// snapshot tags ("sg_2", "sch_2", the group tag "rm-group:sg_2") the names
// people know them by. The ids stay on the wire and in the stored log (a tag
// must survive a rename); pages show the name and keep the id in a title.
type hostNames struct {
	groups    map[string]string // "sg_2" → "docs"
	schedules map[string]string // "sch_2" → "backup daily at 03:00 (UTC)"
	// scheduleByID is schedules by the number a job carries (ScheduleID).
	scheduleByID map[int64]string
}

// hostIDRE finds the ids hostNames knows about as words of a sentence
// (after a space or a bracket, not inside a path such as /srv/sg_2), the
// group tag first so its "sg_" is not taken alone.
var hostIDRE = regexp.MustCompile(`(?:^|[\s(\[])(rm-group:sg_[0-9]+|sg_[0-9]+|sch_[0-9]+)\b`)

// mentionsHostIDs reports whether text has an id worth a name lookup.
func mentionsHostIDs(text string) bool {
	return strings.Contains(text, "sg_") || strings.Contains(text, "sch_")
}

// loadHostNames reads the host's source groups and schedules. It never
// fails a page: an id without a name is shown as it is.
func (h *handler) loadHostNames(ctx context.Context, hostID string) hostNames {
	groups, err := h.svc.ListSourceGroups(ctx, hostID)
	if err != nil {
		h.log.Warn("names of a host's source groups", "host", hostID, "err", err)
	}
	scheds, err := h.svc.ListSchedules(ctx, hostID)
	if err != nil {
		h.log.Warn("names of a host's schedules", "host", hostID, "err", err)
	}
	return newHostNames(groups, scheds)
}

// newHostNames names the ids of a host's groups and schedules.
func newHostNames(groups []server.SourceGroup, scheds []server.Schedule) hostNames {
	n := hostNames{groups: map[string]string{}, schedules: map[string]string{}, scheduleByID: map[int64]string{}}
	for _, g := range groups {
		n.groups[g.Key] = g.Name
	}
	for _, s := range scheds {
		words := string(s.Kind) + " " + scheduleWords(s.Cron, s.TimeZone)
		n.schedules[s.Key], n.scheduleByID[s.ID] = words, words
	}
	return n
}

// name is what an id reads as, or "" when it is unknown (deleted since).
func (n hostNames) name(id string) string {
	if key, ok := strings.CutPrefix(id, "rm-group:"); ok {
		if g := n.groups[key]; g != "" {
			return "group “" + g + "”"
		}
		return ""
	}
	if g := n.groups[id]; g != "" {
		return "“" + g + "”"
	}
	if s := n.schedules[id]; s != "" {
		return "“" + s + "”"
	}
	return ""
}

// html escapes text and shows each known id as its name, with the id in
// the title.
func (n hostNames) html(text string) string {
	if !mentionsHostIDs(text) {
		return html.EscapeString(text)
	}
	var b strings.Builder
	last := 0
	for _, m := range hostIDRE.FindAllStringSubmatchIndex(text, -1) {
		id := text[m[2]:m[3]]
		name := n.name(id)
		if name == "" {
			continue
		}
		b.WriteString(html.EscapeString(text[last:m[2]]))
		b.WriteString(`<span class="named-id" title="`)
		b.WriteString(html.EscapeString(id))
		b.WriteString(`">`)
		b.WriteString(html.EscapeString(name))
		b.WriteString(`</span>`)
		last = m[3]
	}
	b.WriteString(html.EscapeString(text[last:]))
	return b.String()
}

// tagView is a snapshot tag as the list shows it: the group tag as its
// group's name (the tag itself in Title), any other tag as it is.
type tagView struct{ Text, Title string }

func (n hostNames) tag(t string) tagView {
	if strings.HasPrefix(t, "rm-group:") {
		if name := n.name(t); name != "" {
			return tagView{Text: name, Title: "tag " + t}
		}
	}
	return tagView{Text: t}
}

// scheduleOf is the schedule that started j, in words, or "".
func (n hostNames) scheduleOf(j server.Job) string {
	return n.scheduleByID[j.ScheduleID]
}
