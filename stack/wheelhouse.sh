#!/usr/bin/env bash
# stack/wheelhouse.sh — the local package index of `dcor update`'s real test
# (cmd/dcor/update_real_test.go): real wheels from PyPI of every line of
# stack/wheelhouse.lock (two versions of each DCOR package, CKAN 2.11.5 and
# the full closure of both sets) for Debian's python3.11, plus the sdists of
# the DCOR packages in sdist/ (the test makes its git checkout from them).
#
# Built once, with real pip (pip wheel, which also builds uWSGI's sdist), into
# $DCOR_STACK_CACHE/wheelhouse-<hash of the lock, stack/constraints.txt,
# python3.11 -VV and HARNESS>, under .tmp and renamed when complete and
# checked, as stack/stack.sh builds its caches; pip's cache is the stack's.
# Prints the wheelhouse's path on stdout (make test exports it as
# DCOR_WHEELHOUSE); everything else goes to stderr.
#
# Environment: DCOR_STACK_CACHE (default /var/cache/dcor-stack),
# DCOR_WHEELHOUSE_PYTHON (default /usr/bin/python3.11; the tests give a fake).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SRC=$REPO/stack
LOCK=$SRC/wheelhouse.lock
CACHE=${DCOR_STACK_CACHE:-/var/cache/dcor-stack}
PY=${DCOR_WHEELHOUSE_PYTHON:-/usr/bin/python3.11}
# Bump when the way the wheelhouse is built changes (it is part of the key).
HARNESS=1

log() { printf '[wheelhouse %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'wheelhouse: %s\n' "$*" >&2; exit 1; }

[ -x "$PY" ] || die "$PY is missing (apt-get install python3.11 python3.11-venv)"
key=$( { cat "$LOCK" "$SRC/constraints.txt"; "$PY" -VV; echo "harness $HARNESS"; } | sha256sum | cut -c1-16)
DIR=$CACHE/wheelhouse-$key
if [ -f "$DIR/.ok" ]; then echo "$DIR"; exit 0; fi

mkdir -p "$CACHE" "$CACHE/pip"
exec 9>"$CACHE/.wheelhouse.lock"
flock -w 1800 9 || die "another stack/wheelhouse.sh still runs after 30 min ($CACHE/.wheelhouse.lock)"
if [ -f "$DIR/.ok" ]; then echo "$DIR"; exit 0; fi

log "building $(basename "$DIR") from $(basename "$LOCK") (cold: a minute or two)"
t0=$SECONDS
rm -rf "$DIR" "$DIR.tmp"
mkdir -p "$DIR.tmp/sdist"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The two sets: a name listed twice goes with its older version into old.txt
# and its newer one into new.txt, every other line into both.
"$PY" - "$LOCK" "$work" <<'EOF'
import collections, re, sys
lock, work = sys.argv[1], sys.argv[2]
def key(v):
    return [int(p) if p.isdigit() else p for p in re.split(r"[.]", v)]
byname = collections.OrderedDict()
for line in open(lock):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, _, version = line.partition("==")
    if not version:
        sys.exit("wheelhouse.lock: %r is not name==version" % line)
    byname.setdefault(re.sub(r"[-_.]+", "-", name).lower(), []).append((name, version))
sets = {"old": [], "new": [], "twice": []}
for versions in byname.values():
    if len(versions) > 2:
        sys.exit("wheelhouse.lock: %s is listed more than twice" % versions[0][0])
    versions.sort(key=lambda nv: key(nv[1]))
    sets["old"].append("%s==%s" % versions[0])
    sets["new"].append("%s==%s" % versions[-1])
    if len(versions) == 2 and versions[0][0].lower() != "pip":
        sets["twice"] += ["%s==%s" % nv for nv in versions]
for s, lines in sets.items():
    open("%s/%s.txt" % (work, s), "w").write("\n".join(lines) + "\n")
EOF

export PIP_CACHE_DIR=$CACHE/pip PIP_CONSTRAINT=$SRC/constraints.txt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# set -e does not act in a list tested by ||: every step says || exit 1.
(
  "$PY" -m venv "$work/venv" || exit 1
  pip_req=$(grep -i '^pip==' "$work/new.txt") || { echo "wheelhouse.lock names no pip==" >&2; exit 1; }
  "$work/venv/bin/pip" install -q "$pip_req" || exit 1
  for set in old new; do
    "$work/venv/bin/pip" wheel -q -w "$DIR.tmp" -r "$work/$set.txt" || exit 1
  done
  while read -r req; do
    "$work/venv/bin/pip" download -q --no-deps --no-binary :all: -d "$DIR.tmp/sdist" "$req" </dev/null || exit 1
  done <"$work/twice.txt"
  # The index is complete: both sets resolve from it alone, and it holds
  # nothing that the lock does not name.
  for set in old new; do
    "$work/venv/bin/pip" install -q --dry-run --ignore-installed --no-index --find-links "$DIR.tmp" -r "$work/$set.txt" || exit 1
  done
) >"$DIR.tmp.log" 2>&1 || { tail -30 "$DIR.tmp.log" >&2; die "building $(basename "$DIR") failed (log: $DIR.tmp.log)"; }
"$PY" - "$DIR.tmp" "$work/old.txt" "$work/new.txt" <<'EOF' || die "the wheelhouse has wheels that stack/wheelhouse.lock does not name: pin them there"
import glob, re, sys, zipfile
canon = lambda n: re.sub(r"[-_.]+", "-", n).lower()
want = set()
for f in sys.argv[2:]:
    for line in open(f):
        n, _, v = line.strip().partition("==")
        want.add((canon(n), v))
extra = []
for w in glob.glob(sys.argv[1] + "/*.whl"):
    name, version = w.split("/")[-1].split("-")[:2]
    if (canon(name), version) not in want:
        extra.append("%s %s" % (name, version))
if extra:
    sys.exit("not in the lock: " + ", ".join(sorted(extra)))
EOF
touch "$DIR.tmp/.ok"
mv "$DIR.tmp" "$DIR"
mv "$DIR.tmp.log" "$DIR.log"
log "built $(basename "$DIR") in $((SECONDS - t0)) s ($(du -sh "$DIR" | cut -f1))"
# Keep the two newest wheelhouses.
# (line by line: the cache's path may have spaces)
ls -dt "$CACHE"/wheelhouse-* 2>/dev/null | grep -v '\.\(tmp\|log\)$' | tail -n +3 | while IFS= read -r old; do
  log "removing old wheelhouse $old"; rm -rf "$old" "$old.log"
done || true
echo "$DIR"
