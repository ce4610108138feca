//go:build unix

package main

import "syscall"

// raiseFDLimit raises the soft limit on open files to the hard limit: each
// simulated agent holds a socket, and the default soft limit (often 1,024)
// is far below a fleet's. A process may always raise its soft limit up to
// its hard one; beyond that, `ulimit -n` (or LimitNOFILE) must allow it.
func raiseFDLimit() (soft, hard uint64) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0
	}
	if l.Cur < l.Max {
		want := l
		want.Cur = l.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
			l = want
		}
	}
	return uint64(l.Cur), uint64(l.Max)
}
