//go:build !unix

package main

// raiseFDLimit has nothing to raise where there is no RLIMIT_NOFILE.
func raiseFDLimit() (soft, hard uint64) { return 0, 0 }
