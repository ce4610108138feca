package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/restic-manager/restic-manager/server"
)

const hostUsage = `usage: restic-manager host list [--q TEXT] [--tag TAG] [--state online|offline] [--health STATE] [--os OS]
                                                              (name, id, state, tags; by name)
       restic-manager host tag HOST                           (prints its tags, one a line)
       restic-manager host tag HOST add|remove TAG [TAG...]
       restic-manager host tag HOST set [TAG...]              (replaces them; none removes every tag)
HOST is a host's name or ID.`

// cmdHost runs the host subcommands (#12.5): the fleet with its tags, and
// a host's tags read or changed as the CLI's admin actor (audited as
// host.tags; a running server's dashboard shows the change at its next
// read).
func cmdHost(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := groupHelp(args, hostUsage, stdout); err != nil {
		return err
	}
	if len(args) == 0 || (args[0] != "list" && args[0] != "tag") {
		return usageError{hostUsage}
	}
	fs := flag.NewFlagSet("host "+args[0], flag.ContinueOnError)
	data := fs.String("data", "data", dataFlagUsage)
	var filter server.HostFilter
	if args[0] == "list" {
		fs.StringVar(&filter.Query, "q", "", "list only the hosts whose name, hostname, id, OS or architecture contains this text")
		fs.StringVar(&filter.Tag, "tag", "", "list only the hosts carrying this tag")
		fs.Func("state", "list only the hosts online or offline", func(v string) error { filter.State = server.HostState(v); return nil })
		fs.Func("health", "list only the hosts in this health state (ok, overdue, failing, offline, pending)",
			func(v string) error { filter.Health = server.HealthState(v); return nil })
		fs.StringVar(&filter.OS, "os", "", "list only the hosts whose agent runs this OS (linux, windows, darwin)")
	}
	var pos []string
	for rest := args[1:]; ; {
		if err := parseFlags(fs, rest, stdout); err != nil {
			return err
		}
		if rest = fs.Args(); len(rest) == 0 {
			break
		}
		pos, rest = append(pos, rest[0]), rest[1:]
	}
	if args[0] == "list" && len(pos) > 0 {
		return usagef("host list takes no arguments, not %q; use --tag TAG to choose hosts", pos[0])
	}
	if args[0] == "tag" && len(pos) == 0 {
		return usagef("host tag needs the host's name or ID; 'restic-manager host --help' shows how")
	}
	svc, err := openService(*data, stderr)
	if err != nil {
		return err
	}
	defer svc.Close()
	if args[0] == "list" {
		return listHosts(ctx, svc, filter, stdout)
	}
	return tagHost(ctx, svc, pos[0], pos[1:], stdout, stderr)
}

// listHosts prints one host a line: name, id, state, tags
// (comma-separated), following the pages of the domain's host list (#15)
// so a fleet of any size streams out in name order.
func listHosts(ctx context.Context, svc *server.Service, filter server.HostFilter, stdout io.Writer) error {
	req := server.HostPageRequest{HostFilter: filter, Limit: server.MaxHostPageSize}
	for {
		page, err := svc.ListHostsPage(ctx, req)
		if err != nil {
			return refusal(err)
		}
		for _, h := range page.Hosts {
			state := "offline"
			switch {
			case h.Online:
				state = "online"
			case h.LastSeen == nil:
				state = "never-connected"
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", h.Name, h.ID, state, strings.Join(h.Tags, ","))
		}
		if page.NextCursor == nil {
			return nil
		}
		req.Cursor = *page.NextCursor
	}
}

// tagHost prints, adds, removes or sets a host's tags.
func tagHost(ctx context.Context, svc *server.Service, ref string, args []string, stdout, stderr io.Writer) error {
	h, err := findHost(ctx, svc, ref)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		for _, t := range h.Tags {
			fmt.Fprintln(stdout, t)
		}
		return nil
	}
	a, verb, args := server.CLIActor(), args[0], args[1:]
	var tags []string
	switch verb {
	case "add", "remove":
		if len(args) == 0 {
			return usagef("host tag %s %s needs at least one tag", ref, verb)
		}
		if verb == "add" {
			tags, err = svc.EditHostTags(ctx, a, h.ID, args, nil)
		} else {
			tags, err = svc.EditHostTags(ctx, a, h.ID, nil, args)
		}
	case "set":
		tags, err = svc.SetHostTags(ctx, a, h.ID, args)
	default:
		return usagef("unknown host tag command %q; use add, remove or set", verb)
	}
	if err != nil {
		return refusal(err)
	}
	fmt.Fprintf(stderr, "%s now has %d tag(s).\n", h.Name, len(tags))
	for _, t := range tags {
		fmt.Fprintln(stdout, t)
	}
	return nil
}

// findHost finds an active host by ID, or by name among the hosts whose
// names contain it (one page or a few, not the whole fleet).
func findHost(ctx context.Context, svc *server.Service, ref string) (*server.Host, error) {
	if h, err := svc.GetHost(ctx, ref); err == nil {
		return h, nil
	} else if server.ErrorCodeOf(err) != server.CodeNotFound {
		return nil, refusal(err)
	}
	req := server.HostPageRequest{HostFilter: server.HostFilter{Query: ref}, Limit: server.MaxHostPageSize}
	for len(ref) <= 100 {
		page, err := svc.ListHostsPage(ctx, req)
		if err != nil {
			return nil, refusal(err)
		}
		for i := range page.Hosts {
			if page.Hosts[i].Name == ref {
				return &page.Hosts[i], nil
			}
		}
		if page.NextCursor == nil {
			break
		}
		req.Cursor = *page.NextCursor
	}
	return nil, usagef("there is no host named %q; 'restic-manager host list' shows them", ref)
}
