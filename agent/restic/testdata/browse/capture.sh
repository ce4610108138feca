#!/bin/sh
# capture.sh RESTIC OUTDIR: records what a restic binary prints for the
# browsing commands (#14: ls of one folder, find, diff), as fixtures and
# seed corpora for their decoders (browse_decode.go). Nothing secret is
# recorded (the password is a throwaway).
#
#   sh testdata/browse/capture.sh /usr/local/bin/restic testdata/browse/restic-0.18.1
set -u
R=$1
OUT=$(mkdir -p "$2" && cd "$2" && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export RESTIC_PASSWORD=capture-throwaway RESTIC_REPOSITORY="$W/repo" RESTIC_CACHE_DIR="$W/cache"
mkdir -p "$W/src/docs/sub" "$W/src/photos"
echo one >"$W/src/docs/a.txt"
echo two >"$W/src/docs/b.pdf"
echo three >"$W/src/docs/sub/c.txt"
echo old >"$W/src/photos/gone.jpg"
ln -s a.txt "$W/src/docs/link"
"$R" init -q
"$R" backup -q "$W/src"
first=$("$R" snapshots --json --latest 1 | sed 's/.*"id":"\([0-9a-f]*\)".*/\1/')
rm "$W/src/photos/gone.jpg"
echo changed >>"$W/src/docs/a.txt"
echo new >"$W/src/docs/new.txt"
"$R" backup -q "$W/src"
second=$("$R" snapshots --json --latest 1 | sed 's/.*"id":"\([0-9a-f]*\)".*/\1/')
run() { name=$1; shift; "$R" "$@" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr"; echo $? >"$OUT/$name.exit"; }
run ls ls --json latest "$W/src/docs"
run ls-root ls --json latest /
run ls-missing ls --json latest "$W/src/nope"
run find find --json '*.jpg'
run find-many find --json '*'
run find-none find --json 'nothing-matches'
run diff diff --json "$first" "$second"
run diff-missing diff --json 0123abcd "$second"
