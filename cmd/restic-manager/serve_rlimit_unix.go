//go:build unix

package main

import (
	"log/slog"
	"syscall"
)

// raiseFileLimit raises the soft limit on open files to the hard limit and
// returns the report to log once the server is up (a refusal to start, a
// port taken say, stays one sentence). Each connected agent holds one
// socket (docs/scale.md, "File descriptors per agent"), and a soft limit of
// 1,024 — the usual default outside systemd — would refuse the 1,000th
// agent. A process may always raise its soft limit up to its hard one;
// beyond that the service manager must allow it (LimitNOFILE, ulimit -n).
// Go's runtime does the same raise at start since 1.19, but silently: doing
// it here makes the limit the server runs with visible in its log, and a
// low one a warning.
func raiseFileLimit() (report func(*slog.Logger)) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return func(log *slog.Logger) { log.Warn("could not read the open-file limit", "err", err) }
	}
	before, raiseErr := l.Cur, error(nil)
	if l.Cur < l.Max {
		want := l
		want.Cur = l.Max
		if raiseErr = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); raiseErr == nil {
			l = want
		}
	}
	return func(log *slog.Logger) {
		if raiseErr != nil {
			log.Warn("could not raise the open-file limit to its hard limit", "soft", before, "hard", l.Max, "err", raiseErr)
		}
		attrs := []any{"soft", l.Cur, "hard", l.Max, "agents_about", fileLimitAgents(l.Cur)}
		if l.Cur < minFileLimit {
			log.Warn("open-file limit is low: each connected agent needs a descriptor; raise LimitNOFILE (systemd) or ulimit -n", attrs...)
			return
		}
		log.Info("open-file limit", attrs...)
	}
}

// fdReserve is what the server holds besides its agents' sockets: the
// store (a writer and a read pool, each with the database, its WAL and
// shared memory), the listeners, logs and a few hundred HTTP clients
// (docs/scale.md, "File descriptors per agent").
const fdReserve = 512

// minFileLimit is the limit below which the log warns: a small fleet's.
const minFileLimit = 4096

// fileLimitAgents is about how many agents a soft limit leaves room for.
func fileLimitAgents(soft uint64) uint64 {
	if soft <= fdReserve {
		return 0
	}
	return soft - fdReserve
}
