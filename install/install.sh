#!/bin/sh
# install.sh installs, upgrades or removes the restic-manager agent on Linux
# (systemd, OpenRC) and macOS (launchd). The restic-manager server serves it
# at /install.sh; the enroll page shows the one-line command that runs it.
#
# Input, from the environment or the equivalent flag:
#   RM_SERVER          --server URL           the server's base URL (required)
#   RM_TOKEN           --token TOKEN          one-time enrollment token; without one the
#                                             machine announces itself and waits until an
#                                             admin accepts it in the dashboard
#   RM_CA_FINGERPRINT  --ca-fingerprint FP    pin the server's CA (SHA256:...); required
#                                             for https unless RM_INSECURE=1
#   RM_INSECURE=1      --insecure             https without a pin: trust the system's CAs
#   RM_ROOT            --root DIR             install everything under DIR (default /);
#                                             needs RM_NO_SERVICE=1
#   RM_NO_SERVICE=1    --no-service           install and enroll, register no service
#                      --uninstall            remove the service and the binary; keep
#                                             config and state
#                      --purge                with --uninstall: remove config and state too
#
# Run again on a machine that has a config, it upgrades the agent in place and
# keeps its config, enrollment, state and outbox (no token needed).
#
# Over https the script trusts nothing before it has checked the server's CA:
# it fetches /ca.pem, checks its fingerprint against RM_CA_FINGERPRINT and then
# talks to the server only through that CA. The agent is installed only if its
# SHA-256 equals both the X-Checksum-Sha256 header of the download and the
# server's index (/agent/binaries).
set -eu
umask 077
# Piped into sh (curl ... | sh), the rest of this script is on stdin: every
# program it runs gets </dev/null so that none can read the script away.

# The oldest restic the agent reads the output of (agent/restic/doc.go).
MIN_RESTIC=0.14.0

say() { printf 'install.sh: %s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
die() {
	printf 'install.sh: %s\n' "$*" >&2
	exit 1
}

usage() {
	cat <<'EOF'
usage: install.sh [--server URL] [--token TOKEN] [--ca-fingerprint SHA256:...]
                  [--insecure] [--root DIR] [--no-service]
       install.sh --uninstall [--purge] [--root DIR] [--no-service]
Each flag has an environment twin: RM_SERVER, RM_TOKEN, RM_CA_FINGERPRINT,
RM_INSECURE=1, RM_ROOT, RM_NO_SERVICE=1. Without a token the machine announces
itself and waits until an admin accepts it. Run again, it upgrades the agent.
EOF
}

is_true() {
	case ${1:-} in
	1 | true | yes | on) return 0 ;;
	*) return 1 ;;
	esac
}

SERVER=${RM_SERVER:-}
TOKEN=${RM_TOKEN:-}
FINGERPRINT=${RM_CA_FINGERPRINT:-}
INSECURE=${RM_INSECURE:-}
ROOT=${RM_ROOT:-/}
NO_SERVICE=${RM_NO_SERVICE:-}
ACTION=install
PURGE=
# The token must not reach any other program through the environment.
unset RM_TOKEN

while [ $# -gt 0 ]; do
	case $1 in
	--server | --token | --ca-fingerprint | --root)
		[ $# -ge 2 ] || die "$1 needs a value, e.g. $1 VALUE"
		case $1 in
		--server) SERVER=$2 ;;
		--token) TOKEN=$2 ;;
		--ca-fingerprint) FINGERPRINT=$2 ;;
		--root) ROOT=$2 ;;
		esac
		shift 2
		;;
	--server=*) SERVER=${1#*=} && shift ;;
	--token=*) TOKEN=${1#*=} && shift ;;
	--ca-fingerprint=*) FINGERPRINT=${1#*=} && shift ;;
	--root=*) ROOT=${1#*=} && shift ;;
	--insecure) INSECURE=1 && shift ;;
	--no-service) NO_SERVICE=1 && shift ;;
	--uninstall) ACTION=uninstall && shift ;;
	--purge) PURGE=1 && shift ;;
	-h | --help)
		usage
		exit 0
		;;
	*) die "unknown option $1: run it with --help for the list" ;;
	esac
done

[ "$(id -u)" = 0 ] || die "run me as root, e.g. with sudo: I install a system service and write /usr/local/bin and /etc"

case $ROOT in
/*) ;;
*) die "RM_ROOT must be an absolute path, not $ROOT" ;;
esac
ROOT=${ROOT%/}
if [ -n "$ROOT" ] && ! is_true "$NO_SERVICE"; then
	die "RM_ROOT=$ROOT installs under another root, where no service can be registered: add RM_NO_SERVICE=1 (--no-service)"
fi

# Platform and paths.
case $(uname -s) in
Linux) OS=linux ;;
Darwin) OS=darwin ;;
*) die "unsupported system $(uname -s): this script installs the agent on Linux and macOS (on Windows, use install.ps1)" ;;
esac
case $(uname -m) in
x86_64 | amd64) ARCH=amd64 ;;
aarch64 | arm64) ARCH=arm64 ;;
armv7* | armv8l) ARCH=arm ;;
*) die "unsupported CPU $(uname -m): the agent is built for amd64, arm64 and (Linux) armv7" ;;
esac
[ "$OS/$ARCH" != darwin/arm ] || die "unsupported CPU $(uname -m) on macOS"

BIN_DIR=$ROOT/usr/local/bin
BIN=$BIN_DIR/restic-manager-agent
if [ "$OS" = darwin ]; then
	STATE=$ROOT"/Library/Application Support/restic-manager-agent"
	CONF=$STATE/agent.yaml
else
	STATE=$ROOT/var/lib/restic-manager-agent
	CONF=$ROOT/etc/restic-manager-agent/agent.yaml
fi

TMP=$(mktemp -d)
APID=
cleanup() {
	[ -z "$APID" ] || kill "$APID" 2>/dev/null || true
	rm -rf "$TMP"
	rm -f "$BIN_DIR/.restic-manager-agent.new.$$"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# service runs one of the agent's service verbs (kardianos: systemd, OpenRC,
# launchd) for the installed config.
service() {
	"$BIN" "$1" --config "$CONF" </dev/null
}

service_state() {
	"$BIN" status --config "$CONF" </dev/null 2>/dev/null || echo "unknown"
}

uninstall() {
	if [ -x "$BIN" ] && ! is_true "$NO_SERVICE"; then
		case $(service_state) in
		*"not installed"*) ;;
		*)
			service stop || true
			service uninstall || die "could not remove the service; fix what the agent said above and run me again"
			;;
		esac
	fi
	rm -f "$BIN"
	say "removed $BIN"
	if is_true "$PURGE"; then
		rm -rf "$STATE"
		rm -f "$CONF"
		rmdir "$(dirname "$CONF")" 2>/dev/null || true
		say "removed the config $CONF and the state $STATE"
	else
		say "kept the config $CONF and the state $STATE (--purge removes them)"
	fi
}

if [ "$ACTION" = uninstall ]; then
	uninstall
	exit 0
fi

# The server and how much it is trusted.
[ -n "$SERVER" ] || die "RM_SERVER is required: the server's base URL, e.g. RM_SERVER=https://backup.example.com:8443"
SERVER=${SERVER%/}
case $SERVER in
https://*)
	if [ -z "$FINGERPRINT" ] && ! is_true "$INSECURE"; then
		die "an https server needs RM_CA_FINGERPRINT (--ca-fingerprint), the SHA256:... shown next to the install command; RM_INSECURE=1 trusts the system's CAs instead"
	fi
	[ -n "$FINGERPRINT" ] || warn "RM_INSECURE=1: no CA pin, trusting the certificate authorities this system trusts"
	;;
http://*)
	warn "plain http: the agent and its checksum can be altered on the way; use the server's https address with RM_CA_FINGERPRINT for machines outside a trusted network"
	;;
*) die "RM_SERVER=$SERVER must start with https:// (or http://)" ;;
esac
if [ -n "$FINGERPRINT" ]; then
	pin=${FINGERPRINT#SHA256:}
	pin=${pin%=}
	case $pin in
	"$FINGERPRINT" | *[!A-Za-z0-9+/]*) die "RM_CA_FINGERPRINT=$FINGERPRINT is not SHA256: followed by 43 base64 characters: copy it again from the server" ;;
	esac
	[ ${#pin} -eq 43 ] || die "RM_CA_FINGERPRINT=$FINGERPRINT is not SHA256: followed by 43 base64 characters: copy it again from the server"
fi

command -v curl >/dev/null 2>&1 || die "curl is missing: install it (apt-get install curl, dnf install curl, apk add curl) and run me again"

sha256_of() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -c1-64
	elif command -v shasum >/dev/null 2>&1; then
		shasum -a 256 "$1" | cut -c1-64
	elif command -v openssl >/dev/null 2>&1; then
		openssl dgst -sha256 -r "$1" | cut -c1-64
	else
		die "no sha256sum, shasum or openssl to check the download with: install coreutils"
	fi
}

# b64decode IN OUT: base64 (GNU, busybox, macOS) or openssl.
b64decode() {
	{ base64 -d <"$1" >"$2" || base64 -D <"$1" >"$2" || openssl base64 -d -A <"$1" >"$2"; } 2>/dev/null ||
		die "cannot decode base64 here: install coreutils or openssl"
}

CA_FILE=
# get URL OUT [HEADERS]: downloads URL into OUT through the pinned CA; an
# unreachable server or an error answer ends the script with what it said.
get() {
	url=$1 out=$2 hdr=${3:-/dev/null}
	shift 3
	if [ -n "$CA_FILE" ]; then
		set -- "$@" --cacert "$CA_FILE"
	fi
	if ! code=$(curl -sS "$@" --connect-timeout 15 --max-time 600 -D "$hdr" -o "$out" -w '%{http_code}' "$url" 2>"$TMP/curl.err"); then
		die "cannot reach the server at $SERVER ($(tr -d '\r' <"$TMP/curl.err" | head -n 1)): check the address and that this machine can reach it"
	fi
	case $code in
	2*) ;;
	*) die "the server answered HTTP $code for $url: $(sed -n 's/.*"message":"\([^"]*\)".*/\1/p' "$out" | head -n 1)" ;;
	esac
}

# Pin the CA: fetch it without a TLS check, then trust it only if it hashes
# to the fingerprint (sha256 over the certificate's DER, base64, no padding).
if [ -n "$FINGERPRINT" ] && [ "${SERVER#https://}" != "$SERVER" ]; then
	get "$SERVER/ca.pem" "$TMP/ca.pem" "" -k
	sed -e '/-----BEGIN/d' -e '/-----END/d' "$TMP/ca.pem" | tr -d '\r\n ' >"$TMP/ca.b64"
	b64decode "$TMP/ca.b64" "$TMP/ca.der"
	printf '%s=' "$pin" >"$TMP/pin.b64"
	b64decode "$TMP/pin.b64" "$TMP/pin.bin"
	want=$(od -An -tx1 "$TMP/pin.bin" | tr -d ' \n')
	got=$(sha256_of "$TMP/ca.der")
	if [ "$(grep -c -- '-----BEGIN' "$TMP/ca.pem")" != 1 ] || [ "$got" != "$want" ]; then
		die "the server at $SERVER presents a CA that does not match RM_CA_FINGERPRINT=$FINGERPRINT: nothing was installed. Copy the command again from the enroll page; if it still fails, something between this machine and the server is answering in its place"
	fi
	CA_FILE=$TMP/ca.pem
	say "the server's CA matches $FINGERPRINT"
fi

# The agent for this machine, checked against the header and the index.
get "$SERVER/agent/binaries" "$TMP/index.json" ""
entries() { tr '{' '\n' <"$TMP/index.json"; }
entry=$(entries | grep "\"os\":\"$OS\",\"arch\":\"$ARCH\"," | head -n 1 || true)
if [ -z "$entry" ]; then
	have=$(entries | sed -n 's/.*"os":"\([a-z0-9]*\)","arch":"\([a-z0-9]*\)".*/\1\/\2/p' | tr '\n' ' ')
	die "the server has no agent for $OS/$ARCH (it has: ${have:-none}); ask its admin to build it (make agents)"
fi
index_sum=$(printf '%s\n' "$entry" | sed -n 's/.*"sha256":"\([0-9a-f]*\)".*/\1/p')
get "$SERVER/agent/binary?os=$OS&arch=$ARCH" "$TMP/agent" "$TMP/headers"
header_sum=$(tr -d '\r' <"$TMP/headers" | sed -n 's/^[Xx]-[Cc]hecksum-[Ss]ha256: *\([0-9a-fA-F]*\).*/\1/p' | tail -n 1)
version=$(tr -d '\r' <"$TMP/headers" | sed -n 's/^[Xx]-[Aa]gent-[Vv]ersion: *\(.*\)/\1/p' | tail -n 1)
sum=$(sha256_of "$TMP/agent")
if [ -z "$index_sum" ] || [ "$sum" != "$index_sum" ] || [ "$sum" != "$header_sum" ]; then
	die "checksum mismatch: the downloaded agent hashes to $sum, the server published ${header_sum:-nothing} (download) and ${index_sum:-nothing} (index). Nothing was installed; run me again, and if it persists something between this machine and the server alters downloads"
fi
say "downloaded the agent ${version:-?} for $OS/$ARCH (sha256 $sum)"

# Install the binary: staged next to its place, tried, then renamed over
# the old one (a running agent keeps its old file until it restarts).
if [ ! -d "$BIN_DIR" ]; then
	mkdir -p "$BIN_DIR"
	chmod 755 "$BIN_DIR"
fi
staged=$BIN_DIR/.restic-manager-agent.new.$$
cp "$TMP/agent" "$staged"
chmod 755 "$staged"
"$staged" version </dev/null >/dev/null 2>&1 || die "the downloaded agent does not run on this machine ($OS/$ARCH): nothing was installed"
[ "$(sha256_of "$staged")" = "$sum" ] || die "checksum mismatch after copying the agent to $BIN_DIR: nothing was installed"
mv -f "$staged" "$BIN"
say "installed $BIN"

if [ -f "$CONF" ]; then
	# Upgrade in place: config, enrollment, state and outbox stay as they are.
	[ -z "$TOKEN" ] || say "this machine is enrolled already ($CONF): keeping its identity, the token was not used"
	if is_true "$NO_SERVICE"; then
		say "upgraded; restart the agent to run the new version: $BIN run --config \"$CONF\""
	else
		case $(service_state) in
		*"not installed"*) service install ;;
		*) service stop || true ;;
		esac
		service start
		say "upgraded and restarted the agent service"
	fi
	exit 0
fi

# restic: on PATH, or from the system's package manager.
find_restic() { command -v restic 2>/dev/null || true; }
install_restic() {
	if [ -n "$ROOT" ]; then
		return 0 # not into the system when installing under another root
	fi
	say "restic is missing; installing it with the system's package manager"
	if command -v apt-get >/dev/null 2>&1; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq restic
	elif command -v dnf >/dev/null 2>&1; then
		dnf install -y restic
	elif command -v apk >/dev/null 2>&1; then
		apk add --no-cache restic
	elif command -v zypper >/dev/null 2>&1; then
		zypper --non-interactive install restic
	elif command -v brew >/dev/null 2>&1 && [ -n "${SUDO_USER:-}" ]; then
		sudo -u "$SUDO_USER" brew install restic # Homebrew refuses to run as root
	fi
}
# version_lt A B: dotted version A is older than B.
version_lt() {
	awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, "."); split(b, y, ".")
		for (i = 1; i <= 3; i++) { if (x[i] + 0 < y[i] + 0) exit 0; if (x[i] + 0 > y[i] + 0) exit 1 }
		exit 1 }'
}
RESTIC=$(find_restic)
if [ -z "$RESTIC" ]; then
	install_restic </dev/null >&2 || warn "the package manager could not install restic"
	RESTIC=$(find_restic)
fi
if [ -z "$RESTIC" ]; then
	warn "restic is not installed, and backups fail until it is: install restic $MIN_RESTIC or newer from your package manager, or download the single binary from https://github.com/restic/restic/releases, unpack it to /usr/local/bin/restic and chmod 755 it. The agent finds it there without a restart."
else
	rv=$("$RESTIC" version </dev/null 2>/dev/null | sed -n '1s/^restic v\{0,1\}\([0-9][0-9.]*[0-9]\).*/\1/p')
	old=0
	[ -z "$rv" ] || ! version_lt "$rv" "$MIN_RESTIC" || old=1
	if [ -z "$rv" ] || [ "$old" = 1 ]; then
		warn "$RESTIC is restic ${rv:-of an unknown version}, older than $MIN_RESTIC, the oldest the agent supports: upgrade it (see https://restic.net)"
	else
		say "using restic at $RESTIC"
	fi
fi

# Enroll with the token, or announce and wait for an admin.
set -- --server "$SERVER" --config "$CONF" --state-dir "$STATE"
[ -z "$FINGERPRINT" ] || set -- "$@" --ca-fingerprint "$FINGERPRINT"
[ -z "$RESTIC" ] || set -- "$@" --restic "$RESTIC"
mkdir -p "$(dirname "$CONF")" "$STATE"
if [ -n "$TOKEN" ]; then
	# The agent reads the token from its environment and drops it there:
	# it never appears in an argument list.
	if ! RM_ENROLL_TOKEN=$TOKEN "$BIN" enroll "$@" </dev/null >"$TMP/enroll.out"; then
		die "enrollment failed (see above): the agent is installed; fix the cause and run me again, with a new token if this one was used"
	fi
	grep -v '^next:' "$TMP/enroll.out" || true # the next steps are this script's
else
	say "no token: announcing this machine. It appears under Pending hosts on the dashboard; an admin compares the fingerprint below and accepts it. Ctrl-C stops waiting; running me again shows the same fingerprint."
	mkfifo "$TMP/announce"
	"$BIN" announce "$@" </dev/null >"$TMP/announce" 2>"$TMP/announce.log" &
	APID=$!
	accepted=
	while IFS= read -r line; do
		case $line in
		"accepted as "*)
			say "${line%%;*}; config written to $CONF"
			# The config is written; stop this in-process agent so that the
			# service (or the admin) runs it from now on.
			accepted=1
			kill -TERM "$APID" 2>/dev/null || true
			;;
		*) [ -n "$accepted" ] || printf '%s\n' "$line" ;;
		esac
	done <"$TMP/announce"
	wait "$APID" || true
	APID=
	if [ -z "$accepted" ] || [ ! -f "$CONF" ]; then
		tail -n 5 "$TMP/announce.log" >&2 || true
		die "the machine was not accepted (see above): nothing was enrolled"
	fi
fi
chmod 600 "$CONF"

if is_true "$NO_SERVICE"; then
	say "installed and enrolled; no service registered. Start the agent with: $BIN run --config \"$CONF\""
	exit 0
fi
case $(service_state) in
*"not installed"*) service install || die "could not register the service (see above); the agent is enrolled: run it with $BIN run --config \"$CONF\"" ;;
esac
service start || die "could not start the service (see above)"
say "the agent runs as a service; check it with: restic-manager-agent status"
