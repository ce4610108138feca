//go:build !linux

package servertest

import "syscall"

// clusterProcAttrs: elsewhere than Linux the cluster runs as the test's
// user, and is stopped by StopPostgres only.
func clusterProcAttrs(string) (initdb, postgres *syscall.SysProcAttr, err error) {
	return nil, nil, nil
}

// clusterParent: the temporary directory.
func clusterParent() string { return "" }
