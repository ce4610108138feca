#!/bin/sh
# capture.sh RESTIC OUTDIR: records what a restic binary prints for the
# operations agent/restic runs, as seed corpora for the fuzz tests and as
# fixtures for the decoders. Paths, IDs and the host name are whatever the
# machine had; nothing secret is recorded (the password is a throwaway).
#
#   sh testdata/capture.sh /usr/local/bin/restic testdata/restic-0.18.1
set -u
R=$1
OUT=$(mkdir -p "$2" && cd "$2" && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export RESTIC_PASSWORD=capture-throwaway RESTIC_REPOSITORY="$W/repo" RESTIC_CACHE_DIR="$W/cache"
mkdir -p "$W/src/a" "$W/tgt"
i=0
while [ $i -lt 12 ]; do head -c 200000 /dev/urandom >"$W/src/a/f$i"; i=$((i + 1)); done
run() { name=$1; shift; "$R" "$@" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr"; echo $? >"$OUT/$name.exit"; }
run init init --json
run init-exists init --json
run stats-empty stats --json --mode=raw-data
run backup backup --json "$W/src"
run stats stats --json --mode=raw-data
run backup-warning backup --json "$W/src" /proc/self/mem "$W/missing"
echo changed >"$W/src/a/f0"
run backup-second backup --json "$W/src"
run snapshots snapshots --json
run forget-dry-run forget --json --dry-run --keep-last=1
run forget-prune forget --json --keep-last=1 --prune
run check check --json --read-data-subset=10%
run restore restore --json --target="$W/tgt" --include="$W/src/a" latest
run unlock unlock --json
RESTIC_PASSWORD=wrong-throwaway run wrong-password snapshots --json
RESTIC_REPOSITORY="$W/none" run no-repository snapshots --json
sleep 3 | "$R" backup --stdin --json >/dev/null 2>&1 &
sleep 1.5
run locked prune --json
wait
rm -f "$OUT"/*.stdout.tmp
for f in "$OUT"/*; do [ -s "$f" ] || rm -f "$f"; done
