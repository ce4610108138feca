package topics

import (
	"errors"
	"fmt"
	"strings"
)

// RepositorySchemes are the location prefixes restic understands besides a
// plain absolute path.
var RepositorySchemes = []string{"local:", "sftp:", "rest:", "s3:", "b2:", "azure:", "gs:", "swift:", "rclone:"}

var errNotLocation = fmt.Errorf("repository URL is neither an absolute local path nor a restic backend URL (%s)", strings.Join(RepositorySchemes, " "))

// CheckRepositoryURL returns nil when u is an absolute local path (as isAbs
// decides: IsAbsPath on the server, which serves every OS; the agent's own
// OS rule on the agent), optionally after local:, or a restic backend URL
// whose host, user, bucket, container or remote name does not start with
// "-". restic hands an sftp host and user to ssh and an rclone remote to
// rclone as command-line arguments, so "sftp:-oProxyCommand=...:/x" ran a
// command; a leading "-" is refused for every backend, so no future use
// of those names as arguments can turn into an option. The error never
// quotes u: it may hold a password.
func CheckRepositoryURL(u string, isAbs func(string) bool) error {
	if u == "" || len(u) > MaxSpecField || strings.ContainsFunc(u, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errNotLocation
	}
	for _, scheme := range RepositorySchemes {
		rest, ok := strings.CutPrefix(u, scheme)
		if !ok {
			continue
		}
		switch {
		case scheme == "local:":
			if !isAbs(rest) {
				return errNotLocation
			}
			return nil
		case strings.TrimSpace(rest) == "":
			return errNotLocation
		}
		what, program := locationNames(scheme, rest)
		for _, name := range what {
			if strings.HasPrefix(strings.TrimSpace(name), "-") {
				return fmt.Errorf("repository URL is not allowed: its %s starts with \"-\", which %s would read as an option", locationPart[scheme], program)
			}
		}
		if scheme == "rclone:" && rcloneConnectionString(rest) {
			return errors.New("repository URL is not allowed: an rclone remote with options (remote,option=value: or :backend,option=value:) can set any rclone option, commands included; configure the remote by RCLONE_CONFIG_<REMOTE>_<OPTION> instead")
		}
		return nil
	}
	if !isAbs(u) {
		return errNotLocation
	}
	return nil
}

// locationPart names, for the error, what a backend's leading names are.
var locationPart = map[string]string{
	"sftp:": "host or user", "rest:": "host", "s3:": "host or bucket", "b2:": "bucket",
	"azure:": "container", "gs:": "bucket", "swift:": "container", "rclone:": "remote name",
}

// locationNames splits the part of a backend location after its scheme
// into the names a leading "-" must not start (the whole rest included)
// and says which program would read them.
func locationNames(scheme, rest string) (names []string, program string) {
	names = []string{rest}
	switch scheme {
	case "sftp:":
		// sftp://user@host:port//path or sftp:user@host:/path.
		var auth string
		if a, ok := strings.CutPrefix(rest, "//"); ok {
			auth, _, _ = strings.Cut(a, "/")
		} else {
			auth, _, _ = strings.Cut(rest, ":")
		}
		return append(names, strings.FieldsFunc(auth, func(r rune) bool { return r == '@' || r == ':' })...), "ssh"
	case "rclone:":
		// remote:path; an on-the-fly remote starts with ":".
		remote, _, _ := strings.Cut(strings.TrimPrefix(rest, ":"), ":")
		return append(names, remote), "rclone"
	case "rest:", "s3:":
		// rest:https://user:pass@host:port/path, s3:host/bucket/path or
		// s3:https://host/bucket/path.
		for _, p := range []string{"https://", "http://"} {
			if r, ok := strings.CutPrefix(rest, p); ok {
				rest = r
				break
			}
		}
		parts := strings.SplitN(rest, "/", 3)
		if at := strings.LastIndexByte(parts[0], '@'); at >= 0 {
			parts[0] = parts[0][at+1:]
		}
		if scheme == "rest:" {
			parts = parts[:1]
		}
		return append(names, parts[:min(len(parts), 2)]...), "restic"
	default:
		// b2:bucket:path, azure:container:/path, gs:bucket:/path,
		// swift:container:/path.
		name, _, _ := strings.Cut(rest, ":")
		return append(names, name), "restic"
	}
}

// rcloneConnectionString reports whether an rclone location's remote part
// carries options (remote,opt=value:path or :backend,opt=value:path).
func rcloneConnectionString(rest string) bool {
	remote, _, _ := strings.Cut(strings.TrimPrefix(rest, ":"), ":")
	return strings.ContainsAny(remote, ",=\"'")
}
