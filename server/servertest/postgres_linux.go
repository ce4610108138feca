package servertest

import (
	"errors"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// clusterParent is where the cluster's directory is made: /dev/shm when it
// is a tmpfs, else the temporary directory. Each test's CREATE DATABASE
// copies the template's few hundred files and its DROP DATABASE deletes
// them; on ext4 finding a free inode among that many recently deleted ones
// was a fifth of PostgreSQL's CPU in the server package's run. The data
// need not outlive the test process (fsync is off already).
func clusterParent() string {
	var st syscall.Statfs_t
	const tmpfsMagic = 0x01021994
	if err := syscall.Statfs("/dev/shm", &st); err == nil && st.Type == tmpfsMagic && syscall.Access("/dev/shm", 2 /* W_OK */) == nil {
		return "/dev/shm"
	}
	return ""
}

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
