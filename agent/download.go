package agent

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// Downloads (#14): the server asks with a dump query (topics.QueryDump)
// carrying a one-time upload token. The agent finds the path in the
// snapshot (`restic ls --json SNAPSHOT PATH`: a file and its size, or a
// folder), answers the query with that (topics.DumpStart) or a refusal,
// and then streams `restic dump` to the server over HTTPS
// (download_upload.go), after the reply and beyond the query's timeout.
// It runs beside jobs, like the other queries (restic's non-exclusive
// lock), at most maxDumps at once.

// maxDumps is how many downloads the agent streams at once; the server
// asks for no more (server.MaxDownloadsPerHost).
const maxDumps = 4

// dumpSlots counts the downloads streaming now; the zero value is ready.
type dumpSlots struct {
	mu sync.Mutex
	n  int
}

func (s *dumpSlots) take() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n >= maxDumps {
		return false
	}
	s.n++
	return true
}

func (s *dumpSlots) give() {
	s.mu.Lock()
	s.n--
	s.mu.Unlock()
}

// answerDump answers a dump query: it finds q's path in its snapshot and,
// if it can be sent, starts the upload in the background (bounded by the
// agent's life, not by the query's timeout, which ctx carries) and says
// what it sends in r.Dump. A refusal is a *restic.BrowseError.
func answerDump(a *Agent, ctx context.Context, q *topics.Query, repo restic.Repository, r *topics.Reply) error {
	dq := restic.DumpQuery{Snapshot: q.Snapshot, Path: resticPath(q.Path), Bandwidth: a.desired.bandwidth()}
	args, err := restic.StatArgs(dq)
	if err != nil {
		return err
	}
	var node *restic.Node
	err = a.runner.Browse(ctx, repo, args, a.queries.grace, func(out io.Reader) (err error) {
		node, err = restic.StatNode(out, dq.Path)
		return err
	})
	switch {
	case err != nil:
		return err
	case node == nil:
		return &restic.BrowseError{Kind: topics.ReplyErrNotFound, Message: fmt.Sprintf("there is nothing at %s in this snapshot", clipText(q.Path))}
	}
	start := &topics.DumpStart{Kind: node.Type}
	switch node.Type {
	case topics.DumpKindFile:
		start.Size = node.Size
	case topics.DumpKindDir:
		start.Format = q.Format.FolderFormat()
		if err := topics.CheckDumpSupport(start.Format, a.resticVersion); err != nil {
			return &restic.BrowseError{Kind: topics.ReplyErrUnsupported, Message: err.Error()}
		}
		dq.Archive, dq.Reroot = "tar", topics.ResticAtLeast(a.resticVersion, topics.DumpRerootMinRestic)
		if start.Format == topics.DumpZip {
			dq.Archive = "zip"
		}
	default:
		return &restic.BrowseError{Kind: topics.ReplyErrUnsupported,
			Message: fmt.Sprintf("%s is a %s in this snapshot; only files and folders can be downloaded", clipText(q.Path), node.Type)}
	}
	if !a.queries.dumps.take() {
		return &restic.BrowseError{Kind: topics.ReplyErrBusy,
			Message: fmt.Sprintf("this host is already sending %d downloads; try again when one is done", maxDumps)}
	}
	// The upload counts among the queries running (their WaitGroup, held
	// by this one now), so Run waits for it to end too.
	a.queries.wg.Add(1)
	go func() {
		defer a.queries.wg.Done()
		defer a.queries.dumps.give()
		a.uploadDump(q.Upload, repo, dq, start)
	}()
	r.Dump = start
	return nil
}
