package servertest

import (
	"errors"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// clusterProcAttrs are initdb's and postgres's process attributes. As root
// (CI) both run as the postgres user Debian's package creates (or nobody),
// which is given dir: PostgreSQL refuses to run as root. postgres gets
// SIGQUIT (immediate shutdown) when the test binary dies, so a binary
// killed by its timeout takes its cluster along.
func clusterProcAttrs(dir string) (initdb, postgres *syscall.SysProcAttr, err error) {
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		if cred, err = unprivileged(); err != nil {
			return nil, nil, err
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, nil, err
		}
	}
	return &syscall.SysProcAttr{Credential: cred}, &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}, nil
}

// unprivileged is the user root runs PostgreSQL as.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as")
}
