#!/usr/bin/env bash
# Installs with apt-get what building (deps.sh build), building the static
# release (deps.sh release) or testing (deps.sh all) dcor needs, when it is
# missing. Needs root for apt-get.
set -euo pipefail
want=(gcc pkg-config libhdf5-dev)
# the static release links libhdf5.a with libsz.a/libaec.a and libz.a
# (scripts/release.sh); readelf checks that it is static
release=(libaec-dev zlib1g-dev binutils)
if [ "${1:-all}" = release ]; then
  want+=("${release[@]}")
fi
if [ "${1:-all}" = all ]; then
  # debootstrap: the .deb's test installs it into a Debian chroot (release/)
  want+=("${release[@]}" debootstrap)
  want+=(curl postgresql gnupg nginx-light supervisor redis-server python3 python3-jwt python3-venv git unzip zip util-linux)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nginx-full or nginx provide the same binary as nginx-light
if printf '%s\n' "${missing[@]}" | grep -qx nginx-light && command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  missing=("${missing[@]/nginx-light}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v go >/dev/null 2>&1; then
  echo "go is not installed: install Go 1.26 or newer (https://go.dev/doc/install)" >&2
  exit 1
fi
