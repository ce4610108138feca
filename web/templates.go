package web

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"strings"
	"sync"
	"text/template/parse"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

//go:embed templates
var templateFiles embed.FS

// pages lists, for each page, the files it is parsed from: the layout, the
// page itself (which defines "title" and "content") and the partials it
// uses. Partials that the event hub renders alone (host_row, summary,
// host_vitals) are parsed into the page that shows them.
var pages = map[string][]string{
	"login": {"layout.html", "login.html"},
	"dashboard": {"layout.html", "dashboard.html", "partials/summary.html", "partials/host_table.html", "partials/host_row.html", "partials/state.html", "partials/commands.html", "partials/pending_hosts.html",
		"partials/plan.html", "partials/agent_upgrade.html", "partials/fleet.html", "partials/job_table.html", "partials/bandwidth.html", "partials/health.html"},
	"host": {"layout.html", "host.html", "partials/host_vitals.html", "partials/state.html", "partials/repo_state.html",
		"partials/job_table.html", "partials/snapshots.html", "partials/plan.html", "partials/sources.html",
		"partials/schedules.html", "partials/schedule_fields.html", "partials/source_group_form.html", "partials/bandwidth.html",
		"partials/hook_fields.html", "partials/agent_upgrade.html", "partials/fleet.html", "partials/health.html", "partials/host_charts.html"},
	"source_group": {"layout.html", "source_group.html", "partials/state.html", "partials/plan.html",
		"partials/schedule_fields.html", "partials/source_group_form.html", "partials/bandwidth.html", "partials/hook_fields.html"},
	"jobs":       {"layout.html", "jobs.html", "partials/job_table.html", "partials/state.html"},
	"job":        {"layout.html", "job.html", "partials/job_head.html", "partials/job_progress.html", "partials/state.html"},
	"restore":    {"layout.html", "restore.html"},
	"repository": {"layout.html", "repository.html", "partials/repo_state.html", "partials/state.html", "partials/hook_fields.html"},
	"enroll":     {"layout.html", "enroll.html", "partials/commands.html", "partials/tokens.html"},
	"users":      {"layout.html", "users.html", "partials/commands.html"},
	"user":       {"layout.html", "user.html"},
	"account":    {"layout.html", "account.html"},
	"login_totp": {"layout.html", "login_totp.html"},
	"audit":      {"layout.html", "audit.html"},
	"error":      {"layout.html", "error.html"},

	// Browsing a host's snapshots (#14): a folder, a search, a diff.
	"snapshot_tree": {"layout.html", "snapshot_tree.html"},
	"snapshot_find": {"layout.html", "snapshot_find.html"},
	"snapshot_diff": {"layout.html", "snapshot_diff.html"},

	// Admins: notification channels, deliveries and host mutes (#13).
	"notifications": {"layout.html", "notifications.html"},
}

// templates holds every page's parsed template set.
type templates struct {
	sets map[string]*template.Template
}

// loadTemplates returns every page parsed, on the first call of the
// process: the files and the helpers are the same for every Server, so
// later Servers (the tests start hundreds in one process) share the parsed
// sets, which are safe to execute from many goroutines.
var loadTemplates = sync.OnceValues(func() (*templates, error) {
	assets, err := loadStatic()
	if err != nil {
		return nil, err
	}
	return parseTemplates(templateFuncs(assets))
})

// parseTemplates parses every page once; any error stops start-up.
func parseTemplates(funcs template.FuncMap) (*templates, error) {
	t := &templates{sets: make(map[string]*template.Template, len(pages))}
	for name, files := range pages {
		paths := make([]string, len(files))
		for i, f := range files {
			paths[i] = "templates/" + f
		}
		set, err := template.New(name).Funcs(funcs).ParseFS(templateFiles, paths...)
		if err != nil {
			return nil, fmt.Errorf("web: parse page %s: %w", name, err)
		}
		if err := checkReferences(set); err != nil {
			return nil, fmt.Errorf("web: page %s: %w", name, err)
		}
		t.sets[name] = set
	}
	return t, nil
}

// checkReferences fails when a template calls {{template "x"}} and x is not
// in the page's set: html/template would only notice while rendering, i.e.
// in front of a user, when a partial is missing from the pages map.
func checkReferences(set *template.Template) error {
	var walk func(n parse.Node) error
	walk = func(n parse.Node) error {
		switch n := n.(type) {
		case *parse.TemplateNode:
			if set.Lookup(n.Name) == nil {
				return fmt.Errorf("template %q is used but not parsed; add its file to the pages map", n.Name)
			}
		case *parse.ListNode:
			if n == nil {
				return nil
			}
			for _, c := range n.Nodes {
				if err := walk(c); err != nil {
					return err
				}
			}
		case *parse.IfNode:
			return walkBranch(walk, &n.BranchNode)
		case *parse.RangeNode:
			return walkBranch(walk, &n.BranchNode)
		case *parse.WithNode:
			return walkBranch(walk, &n.BranchNode)
		}
		return nil
	}
	for _, t := range set.Templates() {
		if t.Tree == nil {
			continue
		}
		if err := walk(t.Tree.Root); err != nil {
			return err
		}
	}
	return nil
}

func walkBranch(walk func(parse.Node) error, b *parse.BranchNode) error {
	if err := walk(b.List); err != nil {
		return err
	}
	if b.ElseList != nil {
		return walk(b.ElseList)
	}
	return nil
}

// page renders a whole page (its "layout" template).
func (t *templates) page(w io.Writer, name string, data any) error {
	return t.fragment(w, name, "layout", data)
}

// fragment renders one named template of a page's set, e.g. a table row the
// event hub pushes to browsers.
func (t *templates) fragment(w io.Writer, pageName, tmpl string, data any) error {
	set, ok := t.sets[pageName]
	if !ok {
		return fmt.Errorf("web: no page %q", pageName)
	}
	return set.ExecuteTemplate(w, tmpl, data)
}

// templateFuncs are the helpers templates may call.
func templateFuncs(static *staticAssets) template.FuncMap {
	return template.FuncMap{
		// static returns a cache-busting URL for a file under static/.
		"static": static.url,
		// ago is a time relative to now ("3 h ago", "in 20 min").
		"ago": func(t time.Time) string { return relativeTime(t, time.Now()) },
		// exact is the full time for a tooltip, in UTC.
		"exact": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		// iso is the machine-readable time for <time datetime>.
		"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		// bytes is a size in binary units ("1.5 GiB"); thousands a count
		// with separators; short a restic id's 8-character form.
		"bytes":     humanBytes,
		"thousands": thousands,
		"short":     shortID,
		"join":      strings.Join,
		// dict builds a map for a partial that takes several values:
		// {{template "x" (dict "A" 1 "B" 2)}}.
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, errors.New("dict: odd number of arguments")
			}
			m := make(map[string]any, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, errors.New("dict: keys must be strings")
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
		// drillFiles and drillMaxMB are a drill's default sample (#14).
		"drillFiles": func() int { return topics.DefaultDrillFiles },
		"drillMaxMB": func() int { return topics.DefaultDrillMaxMB },
		// keepRules and keepValue lay out the forget form's keep-* fields.
		"keepRules": func() []string { return keepRules },
		"keepValue": func(f any, rule string) string {
			switch f := f.(type) {
			case jobForm:
				return f.keep(rule)
			case sourceGroupForm:
				return f.keep(rule)
			}
			return ""
		},
		// bandwidthWords are a host's caps in words; weekdays the weekly
		// preset's days.
		"bandwidthWords": bandwidthWords,
		"weekdays":       func() []string { return weekdays },
		// deref turns an optional time into a value for the helpers above.
		"deref": func(t *time.Time) time.Time {
			if t == nil {
				return time.Time{}
			}
			return *t
		},
	}
}
