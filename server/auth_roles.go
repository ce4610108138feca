package server

import "fmt"

// Role is what a user may do. Roles are ordered: each includes the one below.
type Role string

// Roles (DESIGN §5).
const (
	RoleViewer   Role = "viewer"   // reads everything
	RoleOperator Role = "operator" // also runs and cancels jobs
	RoleAdmin    Role = "admin"    // also changes configuration, users, enrollment
)

// Perm is one kind of permission a route or a service method requires.
type Perm int

// Permissions, from least to most.
const (
	PermRead      Perm = iota // see hosts, jobs, snapshots
	PermRunJobs               // run now, cancel, restore
	PermConfigure             // repositories, sources, schedules, enrollment
	PermAdmin                 // users, API tokens, monitor accounts, audit log
)

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 4
	}
	return 0
}

// Allows reports whether r grants p. An unknown role grants nothing.
func (r Role) Allows(p Perm) bool {
	switch p {
	case PermRead:
		return r.rank() >= 1
	case PermRunJobs:
		return r.rank() >= 2
	case PermConfigure, PermAdmin:
		return r.rank() >= 4
	}
	return false
}

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// ParseRole validates a role name from outside.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", invalidf("Unknown role %q; use admin, operator or viewer.", s)
	}
	return r, nil
}

// Actor is who performs a change: a signed-in user, an API token's user, or
// the command line on the server machine. It is recorded in the audit log.
type Actor struct {
	UserID     int64
	Name       string
	Role       Role
	RemoteAddr string
	Via        string // "web", "api", "cli", "agent", "system"
}

// CLIActor is the actor for restic-manager subcommands run on the server
// machine: whoever can read the data directory is trusted as admin.
func CLIActor() Actor { return Actor{Name: "cli", Role: RoleAdmin, Via: "cli", RemoteAddr: "local"} }

// SystemActor is the actor for changes the server makes by itself.
func SystemActor() Actor { return Actor{Name: "system", Role: RoleAdmin, Via: "system"} }

func (a Actor) require(p Perm) error {
	if !a.Role.Allows(p) {
		return &Error{Code: CodeForbidden, Message: fmt.Sprintf("Your role (%s) does not allow this; ask an admin.", a.Role)}
	}
	return nil
}
