#!/usr/bin/env bash
# The Debian package meili-daemon_<version>_<arch>.deb, assembled in a staging tree and built
# with dpkg-deb (docs/install.md): /usr/bin/meilid, /etc/meili/meili.toml and the Modbus maps
# (conffiles), the hardened systemd unit, dashboards, docs; postinst makes the `meili` user.
# Usage: scripts/package-deb.sh [--binary PATH] [--arch ARCH] [--out DIR] [--fast]
#   --binary: a meilid built already (default: cargo build --release, then target/release/meilid)
#   --arch:   the Debian architecture of that binary (default: this machine's)
#   --version: the package version (default: the workspace's; tests build an "older" one)
#   --fast:   gzip -1 instead of xz (tests)
set -euo pipefail
cd "$(dirname "$0")/.."
binary="" version="" arch="$(dpkg --print-architecture)" out="target/deb" compress=(-Zxz)
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --arch) arch="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    --fast) compress=(-Zgzip -z1); shift ;;
    *) echo "package-deb: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$binary" ]; then
  cargo build --release -p meili-daemon
  binary="${CARGO_TARGET_DIR:-target}/release/meilid"
fi
[ -n "$version" ] || version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
doc="$stage/usr/share/doc/meili-daemon"

install -D -m 0755 "$binary" "$stage/usr/bin/meilid"
# Stripped as dh_strip does (function names stay in the dynamic symbols; no line tables).
strip_cmd=strip
case "$arch" in
  "$(dpkg --print-architecture)") ;;
  arm64) strip_cmd=aarch64-linux-gnu-strip ;;
  armhf) strip_cmd=arm-linux-gnueabihf-strip ;;
esac
"$strip_cmd" --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/meilid"
# Manual pages from the binary's own command definitions (a foreign binary runs under qemu-user).
run_meilid=("$stage/usr/bin/meilid")
case "$arch" in
  "$(dpkg --print-architecture)") ;;
  arm64) run_meilid=(qemu-aarch64 -L /usr/aarch64-linux-gnu "$stage/usr/bin/meilid") ;;
  armhf) run_meilid=(qemu-arm -L /usr/arm-linux-gnueabihf "$stage/usr/bin/meilid") ;;
esac
man="$stage/usr/share/man/man1"
"${run_meilid[@]}" manpage --out "$man"
gzip -9n "$man"/*.1
chmod 0644 "$man"/*.gz
install -D -m 0644 packaging/meili.toml "$stage/etc/meili/meili.toml"
install -d -m 0755 "$stage/etc/meili/modbus"
install -m 0644 configs/modbus/*.toml "$stage/etc/meili/modbus/"
install -D -m 0644 packaging/meilid.service "$stage/lib/systemd/system/meilid.service"
install -d -m 0755 "$stage/usr/share/meili/dashboards"
cp -r dashboards/. "$stage/usr/share/meili/dashboards/"
install -d -m 0755 "$doc/docs"
install -m 0644 README.md BENCHMARKS.md "$doc/"
install -m 0644 docs/*.md "$doc/docs/"
install -m 0644 configs/example.toml "$doc/example.toml"
cat > "$doc/copyright" <<COPY
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: meili
Source: https://meili.invalid/

Files: *
Copyright: 2026 Meili developers
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
COPY
printf 'meili-daemon (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- Meili developers <dev@meili.invalid>  %s\n' \
  "$version" "$version" "$(date -R -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" \
  | gzip -9n > "$doc/changelog.gz"
find "$stage/usr/share" -type f -exec chmod 0644 {} +

install -d -m 0755 "$stage/DEBIAN"
install -m 0755 packaging/postinst packaging/prerm packaging/postrm "$stage/DEBIAN/"
{
  echo /etc/meili/meili.toml
  (cd "$stage" && find etc/meili/modbus -type f | sed 's|^|/|' | sort)
} > "$stage/DEBIAN/conffiles"
size="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
cat > "$stage/DEBIAN/control" <<CTRL
Package: meili-daemon
Version: $version
Architecture: $arch
Maintainer: Meili developers <dev@meili.invalid>
Installed-Size: $size
Depends: adduser, libc6 (>= 2.31)
Recommends: mosquitto
Section: net
Priority: optional
Description: edge gateway daemon turning street sensors into compliance figures
 meilid ingests MQTT and Modbus readings from noise meters, air-quality
 monitors, smart toilets and streetlights, keeps them in a durable
 store-and-forward buffer, computes the standards' figures (GB 3096, HJ 633,
 lighting and toilet rates), writes them to InfluxDB or VictoriaMetrics,
 raises alerts and serves a technician's web page.
CTRL
mkdir -p "$out"
deb="$out/meili-daemon_${version}_${arch}.deb"
dpkg-deb --root-owner-group "${compress[@]}" --build "$stage" "$deb" >/dev/null
echo "package-deb: $deb ($(du -h "$deb" | cut -f1); meilid $(du -h "$binary" | cut -f1), stripped $(du -h "$stage/usr/bin/meilid" | cut -f1))"
