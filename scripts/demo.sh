#!/usr/bin/env bash
# make demo: build a drifted sample DCOR host in a temp dir and let dcor
# check it, fix it (showing the diffs) and check it again. The sample host
# has no CKAN database, so the orphans check (which needs one) is skipped.
set -uo pipefail
dcor=$(realpath "$1")
dir=$(mktemp -d /tmp/dcor-demo-XXXXXX)
go run ./tools/samplehost "$dir/host" || exit 1
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
cd "$dir"
step dcor --root host inspect --skip orphans --check
"$dcor" --root host inspect --skip orphans --check
echo "(exit status $?: the sample host has drifted)"
step dcor --root host inspect --skip orphans -y --diff
"$dcor" --root host inspect --skip orphans -y --diff || { echo "inspect -y failed"; exit 1; }
step dcor --root host inspect --skip orphans --check
"$dcor" --root host inspect --skip orphans --check || { echo "still drifted after inspect -y"; exit 1; }
echo "(exit status 0: clean)"
echo
echo "The sample host is in $dir/host; the old versions of the changed files are in $dir/host/var/backups/dcor as *.dcor-YYYYmmdd-HHMMSS."
