#!/usr/bin/env bash
# Builds dcor's release into DIST (default dist/), the one place that
# holds the release's build flags (make release and the tests of
# release/ run it):
#   DIST/dcor-linux-ARCH          static binary (cgo with Debian's static
#                                 HDF5, libsz, libaec, libz; no shared
#                                 library at all, not even libc)
#   DIST/dcor_DEBVERSION_ARCH.deb /usr/bin/dcor, man pages, bash/zsh/fish
#                                 completion, /etc/dcor/, the nightly
#                                 backup's systemd service and timer
#                                 (installed disabled)
#   DIST/SHA256SUMS               checksums of both
# The version is `git describe --tags --always --dirty` (VERSION=… overrides).
# Needs: go, gcc, libhdf5-dev, libaec-dev, zlib1g-dev, dpkg-deb, readelf
# (scripts/deps.sh release installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
dist=${1:-dist}
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
arch=$(dpkg --print-architecture)
multiarch=$(gcc -print-multiarch)
hdf5=/usr/lib/$multiarch/hdf5/serial
for lib in "$hdf5/libhdf5.a" "$hdf5/libhdf5_hl.a" "/usr/lib/$multiarch/libsz.a" "/usr/lib/$multiarch/libaec.a" "/usr/lib/$multiarch/libz.a"; do
  if [ ! -f "$lib" ]; then
    echo "release: $lib is missing: run scripts/deps.sh release (libhdf5-dev, libaec-dev, zlib1g-dev)" >&2
    exit 1
  fi
done

bin="$dist/dcor-linux-$arch"
# osusergo, netgo: Go's own user and DNS look-ups instead of glibc's NSS,
# which a static binary cannot load. dcorstatic: HDF5's filter plugins,
# loaded with dlopen, are turned off (rtdc/plugins_static.go); the
# linker's warning about dlopen in H5PLint.o is expected.
CGO_ENABLED=1 \
CGO_LDFLAGS="-L$hdf5 -lhdf5_hl -lhdf5 -lsz -laec -lz -lm -ldl" \
  go build -trimpath -tags osusergo,netgo,dcorstatic \
  -ldflags "-s -w -linkmode external -extldflags -static -X main.version=$version" \
  -o "$bin" ./cmd/dcor
if readelf -lW "$bin" | grep -q 'program interpreter' || readelf -dW "$bin" | grep -q NEEDED; then
  echo "release: $bin is not static" >&2
  exit 1
fi

# Debian versions start with a digit and use no "-" (that starts the
# Debian revision): v1.2.3-4-gabc1234-dirty -> 1.2.3+4.gabc1234.dirty,
# abc1234 (no tag yet) -> 0~gitabc1234.
debversion=${version#v}
case $debversion in
  [0-9]*) debversion=$(printf '%s' "$debversion" | sed 's/-/+/; s/-/./g') ;;
  *) debversion=0~git$(printf '%s' "$debversion" | sed 's/-/./g') ;;
esac

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -D -m 0755 "$bin" "$stage/usr/bin/dcor"
"$bin" man --dir "$stage/usr/share/man/man8" >/dev/null
gzip -9n "$stage"/usr/share/man/man8/*.8
install -d "$stage/usr/share/bash-completion/completions" "$stage/usr/share/zsh/vendor-completions" \
  "$stage/usr/share/fish/vendor_completions.d" "$stage/lib/systemd/system" "$stage/etc/dcor" \
  "$stage/usr/share/doc/dcor" "$stage/DEBIAN"
"$bin" completion bash >"$stage/usr/share/bash-completion/completions/dcor"
"$bin" completion zsh >"$stage/usr/share/zsh/vendor-completions/_dcor"
"$bin" completion fish >"$stage/usr/share/fish/vendor_completions.d/dcor.fish"
go run ./release/units "$stage/lib/systemd/system"
install -m 0644 LICENSE "$stage/usr/share/doc/dcor/copyright"
cat >"$stage/DEBIAN/control" <<CONTROL
Package: dcor
Version: $debversion
Architecture: $arch
Maintainer: DCOR-dev <https://github.com/DCOR-dev/dcor/issues>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Section: admin
Priority: optional
Homepage: https://github.com/DCOR-dev/dcor
Description: operate a DCOR host (CKAN for deformability cytometry)
 dcor installs, checks, repairs, backs up and updates a DCOR host: a CKAN
 site with PostgreSQL, Solr, Redis, uWSGI under supervisord and nginx.
 A static binary. The nightly backup's systemd timer is installed
 disabled: "dcor schedule backup --key-id ID --systemd" enables it.
CONTROL
find "$stage" -type d -exec chmod 0755 {} +
rm -f "$dist"/dcor_*.deb
deb="$dist/dcor_${debversion}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
(cd "$dist" && sha256sum "$(basename "$bin")" "$(basename "$deb")" >SHA256SUMS)
echo "$bin"
echo "$deb"
echo "$dist/SHA256SUMS"
