#!/usr/bin/env bash
# stack/stack.sh up|down|caches|status [--lane 2.11|2.9] — a real DCOR host for
# dcor's tests: the CKAN 2.11.5 lane (default), or the seed lane 2.9 (CKAN
# 2.9.8 with the 2022 DCOR extensions on pyenv's Python 3.8.18; 2.9.8 is the
# newest 2.9 that serves the symlinked resource files of the seed-era depot:
# 2.9.9 added the realpath check "Invalid storage path").
#
# `up` builds (or reuses) the cached virtualenvs and Solr jars, then starts
# PostgreSQL, Redis, Solr, CKAN (uWSGI + rq workers under supervisord) and
# nginx with TLS inside a private mount and network namespace, so that the
# real paths (/etc/ckan/default, /usr/lib/ckan/default, /etc/nginx,
# /etc/supervisor, /etc/dcor, /data, /var/log/…, /run) are the stack's own and
# the machine's services and ports stay untouched. It writes .stack/env.
# `down` stops everything it started and removes .stack/.
#
# Environment: DCOR_STACK_CACHE (default /var/cache/dcor-stack),
# DCOR_STACK_STATE (default <repo>/.stack, <repo>/.stack-2.9 for the seed lane),
# DCOR_STACK_HOST (default dcor.test), DCOR_STACK_LANE (default 2.11; --lane wins).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SRC=$REPO/stack
CMD=${1:-}
LANE=${DCOR_STACK_LANE:-2.11}
if [ "${2:-}" = --lane ] && [ -n "${3:-}" ]; then LANE=$3; elif [ -n "${2:-}" ]; then
  echo "usage: stack/stack.sh up|down|caches|status [--lane 2.11|2.9]" >&2; exit 2; fi
CACHE=${DCOR_STACK_CACHE:-/var/cache/dcor-stack}
HOST=${DCOR_STACK_HOST:-dcor.test}
PY=/usr/bin/python3.11
VENV=/usr/lib/ckan/default          # path of the CKAN venv inside the namespace
CLIENT=/usr/lib/dcor-stack/client   # path of the client venv inside the namespace
# Bump when the way the caches are built changes (it is part of every key).
HARNESS=1
# The lane: which CKAN, on which Python, from which lock file. LANE_PY is the
# venv's interpreter, LANE_PIP the pip it gets, LANE_EDITABLE a package of the
# lock installed editable from its PyPI sdist (under $VENV/src), LANE_SCHEMA
# a CKAN wheel whose Solr schema the lane's core gets (named ckan-2.10, which
# CKAN 2.9.5+ accepts; the lane's own 2.9 schema needs Trie fields, which Solr 9
# lacks); "" = the installed CKAN's own schema. PYENV_PREFIX, when set, is made
# readable for www-data inside the namespace (see start_namespace).
case $LANE in
  2.11)
    CKAN_VERSION=2.11.5 LANE_KIND=ckan211 LANE_LOCK=$SRC/ckan-2.11.lock
    LANE_CONSTRAINTS=$SRC/constraints.txt LANE_PY=$PY LANE_PIP=pip==26.3
    LANE_EDITABLE= LANE_SCHEMA= PYENV_PREFIX=
    STATE=${DCOR_STACK_STATE:-$REPO/.stack} ;;
  2.9)
    CKAN_VERSION=2.9.8 LANE_KIND=ckan29 LANE_LOCK=$SRC/ckan-2.9.lock
    LANE_CONSTRAINTS=$SRC/constraints-2.9.txt PYENV_PREFIX=/root/.pyenv/versions/3.8.18
    LANE_PY=$PYENV_PREFIX/bin/python3.8 LANE_PIP=pip==25.0.1
    LANE_EDITABLE=ckan==2.9.8 LANE_SCHEMA=ckan==2.11.5
    STATE=${DCOR_STACK_STATE:-$REPO/.stack-2.9} ;;
  *) echo "stack: unknown lane $LANE (2.11 or 2.9)" >&2; exit 2 ;;
esac
# Directories that the namespace gets privately (empty mount points on the host).
PRIVATE_DIRS=(etc/ckan etc/nginx etc/supervisor etc/dcor data var/lib/ckan var/log/ckan
  var/log/nginx var/log/supervisor var/backups/dcor var/lib/nginx run)

log() { printf '[stack %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'stack: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- deps ----
deps() {
  "$REPO/scripts/deps.sh" all
  local want=(python3.11 python3.11-venv python3.11-dev libpq-dev redis-server
    openjdk-17-jdk-headless maven openssl curl iproute2 util-linux libpcre2-dev
    build-essential libmagic1 postgresql supervisor)
  local missing=()
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # any JDK 17+ and any nginx will do
  if command -v javac >/dev/null; then missing=("${missing[@]/openjdk-17-jdk-headless}"); fi
  missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]} (run as root, or install them)"
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # redis-server's package may start the machine's own redis: not ours to touch.
}

# --------------------------------------------------------------- caches ----
key() { # key NAME FILES... → NAME-<hash of the files, the interpreter (KEY_PY, default $PY) and HARNESS>
  local name=$1; shift
  local h
  h=$( { cat "$@"; "${KEY_PY:-$PY}" -VV; [ -z "${KEY_EXTRA:-}" ] || echo "$KEY_EXTRA"; java -version 2>&1 | head -1; echo "harness $HARNESS"; } | sha256sum | cut -c1-16)
  echo "$name-$h"
}

# build_venv DIR LOCK MOUNTPOINT SMOKE [PY PIP CONSTRAINTS EDITABLE SCHEMA]:
# a venv on PY (default $PY) built at MOUNTPOINT (a bind mount of DIR.tmp in
# a private mount namespace, so that its scripts name MOUNTPOINT) from LOCK
# with PIP (default pip==26.3) under CONSTRAINTS (default constraints.txt),
# smoke-tested, then renamed to DIR and stamped .ok. EDITABLE (name==version,
# a line of LOCK) is installed editable from its sdist in MOUNTPOINT/src/NAME
# (as CKAN's source install puts it: dcor_theme 0.6.1 reads
# /usr/lib/ckan/default/src/ckan/ckan/public/base/css/main.css);
# SCHEMA (a CKAN name==version) gives MOUNTPOINT/share/dcor-stack/solr-schema.xml.
build_venv() {
  local dir=$1 lock=$2 mnt=$3 smoke=$4 py=${5:-$PY} pip=${6:-pip==26.3}
  local constraints=${7:-$SRC/constraints.txt} editable=${8:-} schema=${9:-}
  [ -f "$dir/.ok" ] && return 0
  log "building $(basename "$dir") from $(basename "$lock") (cold: several minutes)"
  rm -rf "$dir" "$dir.tmp"
  mkdir -p "$dir.tmp" "$mnt" "$CACHE/pip"
  local t0=$SECONDS
  PIP_CACHE_DIR=$CACHE/pip PIP_CONSTRAINT=$constraints PIP_DISABLE_PIP_VERSION_CHECK=1 \
    unshare --mount --propagation private -- bash -euo pipefail -c '
      mount --bind "$1" "$2"
      "$5" -m venv "$2"
      "$2/bin/pip" install -q "$6" "setuptools<82" wheel
      if [ -n "$7" ]; then
        name=${7%%==*} version=${7##*==}
        mkdir -p "$2/src"
        "$2/bin/pip" download -q --no-deps --no-binary :all: "$7" -d "$2/src"
        tar xzf "$2/src/$name-$version.tar.gz" -C "$2/src"
        rm "$2/src/$name-$version.tar.gz"
        mv "$2/src/$name-$version" "$2/src/$name"
        grep -iv "^$name==" "$3" >"$2/src/lock-without-$name.txt"
        "$2/bin/pip" install -q --no-deps -r "$2/src/lock-without-$name.txt"
        "$2/bin/pip" install -q --no-deps -e "$2/src/$name"
      else
        "$2/bin/pip" install -q --no-deps -r "$3"
      fi
      if [ -n "$8" ]; then
        d=$(mktemp -d)
        "$2/bin/pip" download -q --no-deps --only-binary :all: --python-version 3.11 "$8" -d "$d"
        mkdir -p "$2/share/dcor-stack"
        "$2/bin/python" -c "import glob, sys, zipfile; open(sys.argv[2], \"wb\").write(zipfile.ZipFile(glob.glob(sys.argv[1] + \"/*.whl\")[0]).read(\"ckan/config/solr/schema.xml\"))" "$d" "$2/share/dcor-stack/solr-schema.xml"
        rm -rf "$d"
      fi
      "$2/bin/pip" check
      cd / && "$2/bin/python" -c "$4"
    ' _ "$dir.tmp" "$mnt" "$lock" "$smoke" "$py" "$pip" "$editable" "$schema" >"$dir.tmp.log" 2>&1 ||
    { tail -30 "$dir.tmp.log" >&2; die "building $(basename "$dir") failed (log: $dir.tmp.log)"; }
  touch "$dir.tmp/.ok"
  mv "$dir.tmp" "$dir"
  mv "$dir.tmp.log" "$dir.log"
  log "built $(basename "$dir") in $((SECONDS - t0)) s"
}

build_solr() {
  local dir=$1
  [ -f "$dir/.ok" ] && return 0
  log "resolving Solr 9.10.1 from Maven Central"
  rm -rf "$dir" "$dir.tmp"
  mkdir -p "$dir.tmp/classes"
  local t0=$SECONDS
  (cd "$SRC/solr" && mvn -B -q -Dmaven.repo.local="$CACHE/m2" dependency:copy-dependencies \
    -DoutputDirectory="$dir.tmp/lib" -DincludeScope=runtime) >"$dir.tmp.log" 2>&1 ||
    { tail -30 "$dir.tmp.log" >&2; die "Maven could not resolve Solr (log: $dir.tmp.log)"; }
  javac -nowarn -cp "$dir.tmp/lib/*" -d "$dir.tmp/classes" "$SRC/solr/CkanSolr.java" >>"$dir.tmp.log" 2>&1 ||
    die "javac CkanSolr.java failed (log: $dir.tmp.log)"
  # smoke test: an empty Solr home answers on a free port
  local home port pid ok=
  home=$(mktemp -d); echo '<solr/>' >"$home/solr.xml"
  port=$("$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  java -Xmx256m -cp "$dir.tmp/classes:$dir.tmp/lib/*" CkanSolr "$home" "$port" >"$home/out" 2>&1 9>&- &
  pid=$!
  for _ in $(seq 120); do
    if curl -fsS "http://127.0.0.1:$port/solr/admin/cores?action=STATUS" >/dev/null 2>&1; then ok=1; break; fi
    kill -0 $pid 2>/dev/null || break
    sleep 0.5
  done
  kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
  [ -n "$ok" ] || { cat "$home/out" >&2; rm -rf "$home"; die "Solr smoke test failed"; }
  rm -rf "$home"
  touch "$dir.tmp/.ok"
  mv "$dir.tmp" "$dir"; mv "$dir.tmp.log" "$dir.log"
  log "Solr ready in the cache in $((SECONDS - t0)) s"
}

# Keep the two newest builds of each kind.
prune_cache() {
  local kind old olds
  for kind in ckan211 ckan29 client solr; do
    # (a kind may have no build yet: the other lane's venv on a new machine)
    olds=$(ls -dt "$CACHE/$kind"-* 2>/dev/null | grep -v '\.\(tmp\|log\)' | tail -n +3) || true
    for old in $olds; do
      log "removing old cache $old"; rm -rf "$old" "$old.log"
    done
  done
}

caches() {
  mkdir -p "$CACHE"
  local avail
  avail=$(df -Pk "$CACHE" | awk 'NR==2{print $4}')
  [ "$avail" -gt 3000000 ] || die "less than 3 GB free under $CACHE: free some space"
  [ -x "$LANE_PY" ] || die "the $LANE lane needs $LANE_PY (pyenv's Python), which is missing: pyenv install downloads from python.org, which this machine cannot reach"
  CKAN_CACHE=$CACHE/$(KEY_PY=$LANE_PY KEY_EXTRA="${LANE_EDITABLE:+$LANE_PIP $LANE_EDITABLE $LANE_SCHEMA}" key "$LANE_KIND" "$LANE_LOCK" "$LANE_CONSTRAINTS")
  CLIENT_CACHE=$CACHE/$(key client "$SRC/client.lock" "$SRC/constraints.txt")
  SOLR_CACHE=$CACHE/$(key solr "$SRC/solr/pom.xml" "$SRC/solr/CkanSolr.java")
  build_solr "$SOLR_CACHE"
  build_venv "$CKAN_CACHE" "$LANE_LOCK" "$VENV" \
    'import ckan, ckanext.dcor_theme, ckanext.dcor_schemas, ckanext.dcor_depot, ckanext.dc_serve, ckanext.dc_view, ckanext.dc_log_view, psycopg2, dclab; import subprocess, sys, os; b = os.path.dirname(sys.executable); import tempfile; d = tempfile.mkdtemp(); subprocess.run([b + "/ckan", "generate", "config", d + "/ckan.ini"], check=True, stdout=subprocess.DEVNULL); subprocess.run([b + "/uwsgi", "--version"], check=True)' \
    "$LANE_PY" "$LANE_PIP" "$LANE_CONSTRAINTS" "$LANE_EDITABLE" "$LANE_SCHEMA"
  build_venv "$CLIENT_CACHE" "$SRC/client.lock" "$CLIENT" \
    'import dclab.rtdc_dataset.fmt_dcor.access_token, dcoraid.api'
  prune_cache
}

# ------------------------------------------------------------ namespace ----
holder_pid() { [ -f "$STATE/holder.pid" ] && cat "$STATE/holder.pid"; }
# (fd 9, the lock of this script, is closed for everything started: the
# services must not hold it.)
ns() { nsenter --target "$(holder_pid)" --mount --net -- "$@" 9>&-; }
# ns_bg LOG CMD...: CMD in the background inside the namespace, its own
# session, output to LOG; no shell of this script stays behind holding
# the caller's stdout (make stack | tee … ends when the stack is up).
ns_bg() {
  local log=$1; shift
  nsenter --target "$(holder_pid)" --mount --net -- setsid "$@" </dev/null >"$log" 2>&1 9>&- &
}
ns_alive() {
  local p
  p=$(holder_pid 2>/dev/null) || return 1
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && [ "$(cat /proc/$p/comm 2>/dev/null)" = sleep ]
}

start_namespace() {
  local r=$STATE/root d
  for d in "${PRIVATE_DIRS[@]}"; do mkdir -p "$r/$d" "/$d"; done
  # nginx's proxy cache (DCOR's site: /tmp/nginx_cache) is the stack's own
  mkdir -p "$VENV" "$CLIENT" "$STATE/venv-upper" "$STATE/venv-work" "$STATE/log" /tmp/nginx_cache "$STATE/nginx_cache"
  # the machine's nginx and supervisor configuration, without enabled sites/programs
  cp -a /etc/nginx/. "$r/etc/nginx/"
  rm -f "$r/etc/nginx/sites-enabled/"*
  cp -a /etc/supervisor/. "$r/etc/supervisor/"
  rm -f "$r/etc/supervisor/conf.d/"*
  printf '127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$HOST" >"$STATE/hosts"
  setsid unshare --mount --net --propagation private -- sleep infinity </dev/null >/dev/null 2>&1 9>&- &
  echo $! >"$STATE/holder.pid"
  for _ in $(seq 50); do
    [ "$(readlink /proc/$!/ns/net)" != "$(readlink /proc/$$/ns/net)" ] && break
    sleep 0.1
  done
  ns_alive || die "could not start the namespace (unshare --mount --net needs root)"
  ns bash -euo pipefail -c '
    ip link set lo up
    for d in "${@:5}"; do mount --bind "$1/root/$d" "/$d"; done
    mount --bind "$1/hosts" /etc/hosts
    mount --bind "$1/nginx_cache" /tmp/nginx_cache
    mount -t overlay overlay -o "lowerdir=$2,upperdir=$1/venv-upper,workdir=$1/venv-work" "$4"
    mount --bind "$3" /usr/lib/dcor-stack/client
    mount -o remount,bind,ro /usr/lib/dcor-stack/client
  ' _ "$STATE" "$CKAN_CACHE" "$CLIENT_CACHE" "$VENV" "${PRIVATE_DIRS[@]}"
  # A pyenv Python lives under /root (0700) and its binaries carry the
  # RUNPATH $PYENV_PREFIX/lib, so www-data (uWSGI, the workers) must reach
  # that very path: inside the namespace only, /root is an empty tmpfs (0755)
  # with the pyenv prefix bind-mounted back, read-only, at its own path.
  # The machine's /root is untouched; root's home in the stack is that tmpfs.
  if [ -n "$PYENV_PREFIX" ]; then
    mkdir -p "$STATE/pyenv"
    ns bash -euo pipefail -c '
      mount --bind "$2" "$1/pyenv"
      mount -t tmpfs -o mode=0755,size=64m dcor-stack-root /root
      mkdir -p "$2"
      mount --move "$1/pyenv" "$2"
      mount -o remount,bind,ro "$2"
    ' _ "$STATE" "$PYENV_PREFIX"
  fi
}

# ---------------------------------------------------------- services ----
wait_for() { # wait_for SECONDS WHAT CMD...
  local n=$1 what=$2; shift 2
  local end=$((SECONDS + n))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || die "$what did not come up within $n s (logs in $STATE/log)"
    sleep 0.3
  done
}

start_postgres() {
  local bindir
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  PGBIN=$bindir
  mkdir -p "$STATE/pg"
  chown postgres: "$STATE/pg" "$STATE/log"
  echo "$PG_SUPER_PW" >"$STATE/pg.pw"; chown postgres "$STATE/pg.pw"; chmod 600 "$STATE/pg.pw"
  ns runuser -u postgres -- "$bindir/initdb" -D "$STATE/pg/data" -U postgres -A scram-sha-256 \
    --auth-local=trust --pwfile="$STATE/pg.pw" >"$STATE/log/initdb.log" 2>&1 ||
    die "initdb failed (log: $STATE/log/initdb.log)"
  rm -f "$STATE/pg.pw"
  ns install -d -o postgres -g postgres /run/postgresql
  ns runuser -u postgres -- "$bindir/pg_ctl" -D "$STATE/pg/data" -l "$STATE/log/postgresql.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=5432 -c unix_socket_directories=/run/postgresql -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null || die "PostgreSQL did not start (log: $STATE/log/postgresql.log)"
  ns runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -h /run/postgresql -d postgres \
    -c "CREATE ROLE ckan_default LOGIN PASSWORD '$DB_PW'" -c "CREATE DATABASE ckan_default OWNER ckan_default ENCODING 'utf-8'" >/dev/null
}

start_redis() {
  mkdir -p "$STATE/redis"
  ns redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes \
    --dir "$STATE/redis" --pidfile /run/redis-stack.pid --logfile "$STATE/log/redis.log" >/dev/null
  wait_for 20 redis ns redis-cli -h 127.0.0.1 ping
}

# An SMTP sink on port 25 (CKAN and the DCOR extensions send mail, e.g. on
# user creation); the mails end up in log/mail.log.
start_smtp() {
  ns_bg "$STATE/log/mail.log" "$PY" -W ignore -m smtpd -n -c DebuggingServer 127.0.0.1:25
  wait_for 20 "the SMTP sink" ns "$PY" -c 'import socket; socket.create_connection(("127.0.0.1", 25), 1)'
}

# Object storage as production DCOR 1.x has it (2.11 lane only): every
# resource, condensed file and preview lives in S3 buckets circle-<org id>
# (dcor_shared.s3; dcor_schemas 1.x activates a dataset only after reading
# its .rtdc from there). MinIO (AGPL-3.0, built once with go install into
# /var/cache/dcor-test/bin/minio-<version>; cold about 5 min on 2 cores)
# serves $STATE/s3 on 127.0.0.1:9000 (console 9001) inside the namespace
# with root credentials given by environment; s3_site_options puts DCOR's
# dcor_object_store.* keys into the site file, and dcor inspect writes them
# to ckan.ini. MinIO, not Versity Gateway (internal/s3test's server for
# the unit tests): dc_serve's download redirects to dcor_shared.s3's
# presigned URL, which is SigV2 (boto3 without a region), as MPCDF's Ceph
# RGW accepts; MinIO does too, Versity Gateway refuses it (and DCOR's
# bucket policy, a condition on the object tag public).
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c   # github.com/minio/minio, 2026-02-12
S3_ENDPOINT=http://127.0.0.1:9000
s3_binary() {
  local dir=${DCOR_TEST_BIN:-/var/cache/dcor-test/bin}
  local bin=$dir/minio-$MINIO_VERSION tmp
  if [ -x "$bin" ]; then echo "$bin"; return 0; fi
  log "building MinIO $MINIO_VERSION into $dir (cold: about 5 min)"
  mkdir -p "$dir"
  tmp=$(mktemp -d "$dir/.minio-build.XXXXXX")
  (cd /tmp && CGO_ENABLED=0 GOBIN=$tmp GOFLAGS=-buildvcs=false go install "github.com/minio/minio@$MINIO_VERSION") \
    >"$STATE/log/minio-build.log" 2>&1 || { rm -rf "$tmp"; tail -20 "$STATE/log/minio-build.log" >&2; die "go install github.com/minio/minio@$MINIO_VERSION failed (log: $STATE/log/minio-build.log)"; }
  mv "$tmp/minio" "$bin"
  rmdir "$tmp"
  echo "$bin"
}
start_s3() {
  [ "$LANE" = 2.11 ] || return 0
  local bin
  bin=$(s3_binary)
  S3_ACCESS_KEY=dcorstack
  S3_SECRET_KEY=$(openssl rand -hex 20)
  mkdir -p "$STATE/s3"
  MINIO_ROOT_USER=$S3_ACCESS_KEY MINIO_ROOT_PASSWORD=$S3_SECRET_KEY MINIO_UPDATE=off \
    ns_bg "$STATE/log/minio.log" "$bin" server --quiet --address "${S3_ENDPOINT#http://}" \
    --console-address 127.0.0.1:9001 "$STATE/s3"
  wait_for 60 MinIO ns curl -sf -o /dev/null "$S3_ENDPOINT/minio/health/ready"
}
s3_site_options() {
  [ "$LANE" = 2.11 ] || return 0
  cat <<EOF
  dcor_object_store.endpoint_url: $S3_ENDPOINT
  dcor_object_store.access_key_id: $S3_ACCESS_KEY
  dcor_object_store.secret_access_key: "$S3_SECRET_KEY"
  dcor_object_store.bucket_name: "circle-{organization_id}"
  dcor_object_store.ssl_verify: "false"
EOF
}

start_solr() {
  local home=$STATE/solr site
  site=$(ns "$VENV/bin/python" -c 'import ckan, os; print(os.path.dirname(ckan.__file__))')
  mkdir -p "$home/ckan/conf"
  echo '<solr/>' >"$home/solr.xml"
  echo 'name=ckan' >"$home/ckan/core.properties"
  if [ -n "$LANE_SCHEMA" ]; then
    ns sed -E 's/<schema name="ckan-[0-9.]+"/<schema name="ckan-2.10"/' \
      "$VENV/share/dcor-stack/solr-schema.xml" >"$home/ckan/conf/schema.xml"
  else
    ns cp "$site/config/solr/schema.xml" "$home/ckan/conf/schema.xml"
  fi
  cp "$SRC/solr/solrconfig.xml" "$home/ckan/conf/"
  echo '# empty' >"$home/ckan/conf/synonyms.txt"
  echo '# empty' >"$home/ckan/conf/protwords.txt"
  ns_bg "$STATE/log/solr.log" java -Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -cp "$SOLR_CACHE/classes:$SOLR_CACHE/lib/*" CkanSolr "$home" 8983
  echo $! >"$STATE/solr.pid"
  # waited for in start_web: CKAN's CLI does not need Solr
}

configure_ckan() {
  local ini=/etc/ckan/default/ckan.ini
  mkdir -p "$STATE/root/etc/ckan/default" "$STATE/root/etc/dcor"
  # TLS certificate: the host name as CN and SAN, usable as its own trust anchor
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$HOST" \
    -addext "subjectAltName=DNS:$HOST" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,digitalSignature,keyEncipherment" \
    -keyout "$STATE/root/etc/dcor/$HOST.key" -out "$STATE/root/etc/dcor/$HOST.cert" 2>/dev/null
  chmod 600 "$STATE/root/etc/dcor/$HOST.key"
  ns "$VENV/bin/ckan" generate config "$ini" >"$STATE/log/ckan-generate.log" 2>&1 ||
    die "ckan generate config failed (log: $STATE/log/ckan-generate.log)"
  ns "$VENV/bin/ckan" config-tool "$ini" \
    "sqlalchemy.url=postgresql://ckan_default:$DB_PW@localhost/ckan_default" \
    "ckan.site_url=https://$HOST" "solr_url=http://127.0.0.1:8983/solr/ckan" \
    "ckan.redis.url=redis://127.0.0.1:6379/0" >"$STATE/log/ckan-config.log" 2>&1 ||
    die "ckan config-tool failed (log: $STATE/log/ckan-config.log)"
  # The site file: what differs from a production host is the Solr core
  # URL, Redis by address and the CSRF option below.
  cat >"$STATE/root/etc/dcor/dcor.yaml" <<EOF
# dcor site file of the test stack (stack/stack.sh)
kind: development
hostname: dcorstack
fqdn: $HOST
email: admin@$HOST
tls:
  cert: /etc/dcor/$HOST.cert
  key: /etc/dcor/$HOST.key
database:
  password: "$DB_PW"
ckan:
  solr_url: http://127.0.0.1:8983/solr/ckan
  ckan.redis.url: redis://127.0.0.1:6379/0
EOF
  # CKAN 2.11.5 with email_to set (DCOR sets it) installs a log filter that
  # reads the request, and then logs the csrf_protection.ignore_extensions
  # warning outside any request at start-up: RuntimeError, nothing starts.
  # (CKAN 2.9 has no CSRF protection, nor this option.)
  [ "$LANE" = 2.9 ] || echo '  ckan.csrf_protection.ignore_extensions: "false"' >>"$STATE/root/etc/dcor/dcor.yaml"
  s3_site_options >>"$STATE/root/etc/dcor/dcor.yaml"
  chmod 600 "$STATE/root/etc/dcor/dcor.yaml"
  cp "$SRC/wsgi.py" "$STATE/root/etc/ckan/default/wsgi.py"
  # CKAN 2.9 reads repoze.who's who.ini beside ckan.ini (who.config_file =
  # %(here)s/who.ini); its install guide links the one of the source tree.
  local site
  site=$(ns "$VENV/bin/python" -c 'import ckan, os; print(os.path.dirname(ckan.__file__))')
  if ns test -f "$site/config/who.ini"; then ns ln -sfn "$site/config/who.ini" /etc/ckan/default/who.ini; fi
  ns "$VENV/bin/ckan" -c "$ini" db init >"$STATE/log/ckan-db-init.log" 2>&1 ||
    die "ckan db init failed (log: $STATE/log/ckan-db-init.log)"
  # dcor writes the rest: ckan.ini options, uWSGI, supervisor, nginx, theme, permissions
  if ! ns "$DCOR" inspect -y --skip orphans >"$STATE/log/dcor-inspect.log" 2>&1; then
    cat "$STATE/log/dcor-inspect.log" >&2
    die "dcor inspect -y failed on the stack (log: $STATE/log/dcor-inspect.log)"
  fi
  ns "$VENV/bin/ckan" -c "$ini" db upgrade >"$STATE/log/ckan-db-upgrade.log" 2>&1 ||
    die "ckan db upgrade (with DCOR's plugins) failed (log: $STATE/log/ckan-db-upgrade.log)"
  ns "$VENV/bin/ckan" -c "$ini" user add admin email="admin@$HOST" password="$ADMIN_PW" \
    </dev/null >"$STATE/log/ckan-user-add.log" 2>&1 ||
    die "ckan user add failed (log: $STATE/log/ckan-user-add.log)"
  # what `ckan sysadmin add admin` does, without a third CKAN start-up
  ns runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -h /run/postgresql -d ckan_default \
    -c "UPDATE \"user\" SET sysadmin = true WHERE name = 'admin'" >/dev/null
  # the CLI ran as root and made <storage>/storage/uploads: dcor gives it back to www-data
  ns "$DCOR" inspect -y --only permissions >>"$STATE/log/dcor-inspect.log" 2>&1 ||
    die "dcor inspect -y --only permissions failed (log: $STATE/log/dcor-inspect.log)"
}

start_web() {
  wait_for 120 Solr ns curl -fsS http://127.0.0.1:8983/solr/ckan/admin/ping
  ns supervisord -c /etc/supervisor/supervisord.conf
  ns nginx
  wait_for 120 "CKAN through nginx" ns curl -fsS --cacert "$STATE/root/etc/dcor/$HOST.cert" \
    "https://$HOST/api/3/action/status_show"
}

write_env() {
  local pid
  pid=$(holder_pid)
  cat >"$STATE/env.tmp" <<EOF
# The DCOR test stack (stack/stack.sh up; stop it with make stack-stop).
# Paths are as seen through DCOR_STACK_RUN, except DCOR_STACK_CKAN_INI,
# DCOR_STACK_CERT and DCOR_STACK_STATE, which are paths on this machine.
DCOR_STACK_ROOT=/
DCOR_STACK_CKAN_INI=$STATE/root/etc/ckan/default/ckan.ini
DCOR_STACK_VENV=$VENV
DCOR_STACK_CLIENT_VENV=$CLIENT
DCOR_STACK_URL=https://$HOST
DCOR_STACK_HOST=$HOST
DCOR_STACK_CERT=$STATE/root/etc/dcor/$HOST.cert
DCOR_STACK_PG=postgresql://postgres:$PG_SUPER_PW@127.0.0.1:5432/ckan_default
DCOR_STACK_SOLR=http://127.0.0.1:8983/solr/ckan
DCOR_STACK_RUN="nsenter --target $pid --mount --net --"
DCOR_STACK_STATE=$STATE
DCOR_STACK_CKAN_VERSION=$CKAN_VERSION
DCOR_STACK_LANE=$LANE
DCOR_STACK_ADMIN=admin
DCOR_STACK_ADMIN_PASSWORD=$ADMIN_PW
EOF
  chmod 600 "$STATE/env.tmp"
  mv "$STATE/env.tmp" "$STATE/env"
}

up() {
  local t0=$SECONDS
  [ "$(id -u)" = 0 ] || die "make stack needs root (namespaces, apt-get, services as postgres and www-data)"
  deps
  caches
  local tc=$SECONDS
  if [ -d "$STATE" ]; then local td=$SECONDS; down; log "stopped the previous stack in $((SECONDS - td)) s"; fi
  mkdir -p "$STATE"
  DCOR=$STATE/dcor
  (cd "$REPO" && go build -o "$DCOR" ./cmd/dcor) || die "go build ./cmd/dcor failed"
  PG_SUPER_PW=$(openssl rand -hex 12)
  DB_PW=$(openssl rand -hex 12)
  ADMIN_PW=$(openssl rand -hex 12)
  local step
  for step in start_namespace start_postgres start_redis start_smtp start_s3 start_solr configure_ckan start_web write_env; do
    local ts=$SECONDS
    $step
    [ -z "${DCOR_STACK_VERBOSE:-}" ] || log "$step: $((SECONDS - ts)) s"
  done
  log "stack up in $((SECONDS - t0)) s (caches $((tc - t0)) s, start $((SECONDS - tc)) s): $STATE/env"
}

down() {
  [ -d "$STATE" ] || return 0
  if ns_alive; then
    ns supervisorctl shutdown >/dev/null 2>&1 || true
    ns nginx -s quit >/dev/null 2>&1 || true
    ns redis-cli -h 127.0.0.1 shutdown nosave >/dev/null 2>&1 || true
    if [ -d "$STATE/pg/data" ]; then
      ns runuser -u postgres -- "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_ctl" \
        -D "$STATE/pg/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    # every process still in the stack's network namespace (all of them ours)
    local net pid end
    net=$(readlink "/proc/$(holder_pid)/ns/net")
    end=$((SECONDS + 15))
    while :; do
      local left=()
      for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [ "$pid" = "$(holder_pid)" ] && continue
        [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$net" ] && left+=("$pid")
      done
      [ ${#left[@]} -eq 0 ] && break
      if [ $SECONDS -ge $end ]; then kill -KILL "${left[@]}" 2>/dev/null || true; sleep 0.5; break; fi
      kill -TERM "${left[@]}" 2>/dev/null || true
      sleep 0.5
    done
    kill "$(holder_pid)" 2>/dev/null || true
  fi
  rm -rf "$STATE"
  # The empty mount points on this machine (/etc/ckan, /etc/dcor, /data,
  # /usr/lib/ckan/default, …) stay: removing a directory that is a mount
  # point in another stack's namespace would detach that mount there.
}

# One stack.sh at a time: builds share the cache, and up/down the state.
if [ "$CMD" != status ]; then
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock -w 1800 9 || die "another stack/stack.sh still runs after 30 min ($CACHE/.lock)"
fi
case $CMD in
  up) up ;;
  down) down; log "stack stopped" ;;
  caches) [ "$(id -u)" = 0 ] || die "needs root"; deps; caches ;;
  status) ns_alive && { echo "up: $STATE/env"; exit 0; } || { echo "down"; exit 1; } ;;
  *) echo "usage: stack/stack.sh up|down|caches|status [--lane 2.11|2.9]" >&2; exit 2 ;;
esac
