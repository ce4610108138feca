package agent

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// answerLs lists one folder of a snapshot (`restic ls --json SNAP DIR`,
// which prints the folder and its children, not deeper), sorts it folders
// first, then by name, and returns the query's page.
func answerLs(a *Agent, ctx context.Context, q *topics.Query, repo restic.Repository, r *topics.Reply) error {
	dir := resticPath(q.Path)
	key := listingKey(repo, q.Snapshot, dir)
	if l := a.queries.listings.get(key); l != nil {
		r.Tree = treePage(q, l)
		return nil
	}
	var l *restic.Listing
	err := a.runner.Browse(ctx, repo, []string{"ls", "--json", "--", q.Snapshot, dir}, a.queries.grace,
		func(out io.Reader) (err error) {
			l, err = restic.ScanLs(out, dir, topics.MaxTreeEntries)
			return err
		})
	if err != nil {
		return err
	}
	switch {
	case dir != "/" && l.Self == nil:
		return &restic.BrowseError{Kind: topics.ReplyErrNotFound, Message: fmt.Sprintf("there is no folder %s in this snapshot", clipText(q.Path))}
	case l.Self != nil && l.Self.Type != "dir":
		return &restic.BrowseError{Kind: topics.ReplyErrNotFound, Message: fmt.Sprintf("%s is a %s in this snapshot, not a folder", clipText(q.Path), l.Self.Type)}
	}
	sortListing(l)
	a.queries.listings.put(key, l)
	r.Tree = treePage(q, l)
	return nil
}

// sortListing puts a folder's folders first, then everything else, each
// by name.
func sortListing(l *restic.Listing) {
	slices.SortFunc(l.Children, func(x, y restic.Node) int {
		if dx, dy := x.Type == "dir", y.Type == "dir"; dx != dy {
			if dx {
				return -1
			}
			return 1
		}
		return cmp.Compare(x.Name, y.Name)
	})
}

// treePage cuts the query's page out of a sorted listing.
func treePage(q *topics.Query, l *restic.Listing) *topics.TreePage {
	p := &topics.TreePage{Path: q.Path, Page: q.Page, PageSize: topics.TreePageSize, Total: l.Total,
		Entries: []topics.TreeEntry{}, Truncated: l.Total > len(l.Children)}
	from := min(q.Page*topics.TreePageSize, len(l.Children))
	to := min(from+topics.TreePageSize, len(l.Children))
	for _, n := range l.Children[from:to] {
		p.Entries = append(p.Entries, topics.TreeEntry{Name: n.Name, Type: n.Type, Size: n.Size, MTime: n.Mtime.UTC()})
	}
	return p
}

// resticPath is a browse path as restic names it: slashes, and a Windows
// drive as the first element (C:\Users is /C/Users in a snapshot).
func resticPath(p string) string {
	p = strings.ReplaceAll(p, `\`, "/")
	if len(p) >= 2 && p[1] == ':' {
		p = "/" + p[:1] + p[2:]
	}
	return path.Clean(p)
}

// answerFind searches all snapshots of the repository (`restic find
// --json PATTERN`); restic stops once MaxFindMatches are in hand.
func answerFind(a *Agent, ctx context.Context, q *topics.Query, repo restic.Repository, r *topics.Reply) error {
	res := &topics.FindResult{Matches: []topics.FindMatch{}}
	err := a.runner.Browse(ctx, repo, []string{"find", "--json", "--", q.Pattern}, a.queries.grace,
		func(out io.Reader) error {
			m, truncated, err := restic.ScanFind(out, topics.MaxFindMatches)
			res.Matches, res.Truncated = append(res.Matches, m...), truncated
			return err
		})
	if err != nil {
		return err
	}
	r.Find = res
	return nil
}

// answerDiff compares two snapshots (`restic diff --json A B`): the first
// MaxDiffChanges changed paths and restic's statistics of all of them.
func answerDiff(a *Agent, ctx context.Context, q *topics.Query, repo restic.Repository, r *topics.Reply) error {
	var d *topics.DiffResult
	err := a.runner.Browse(ctx, repo, []string{"diff", "--json", "--", q.Snapshot, q.SnapshotTo}, a.queries.grace,
		func(out io.Reader) (err error) {
			d, err = restic.ScanDiff(out, topics.MaxDiffChanges)
			return err
		})
	if err != nil {
		return err
	}
	r.Diff = d
	return nil
}
