#!/usr/bin/env bash
# meilid for ARM gateways, cross-built on this amd64 machine with rustup's std for the target
# and Debian's cross gcc as the linker (ring's C and assembly too), then run under qemu-user
# (Debian's qemu-user): --version, calc, check-config and a 15-second demo whose table must
# show figures.
#   arm64: aarch64-unknown-linux-gnu (RK3568/RK3588, Raspberry Pi 3/4/5 class)
#   armhf: armv7-unknown-linux-gnueabihf (Cortex-A7 gateways, e.g. i.MX6ULL, Allwinner)
# Usage: scripts/cross-gateway.sh [--arch arm64|armhf] [--release] [--no-run]
#   --release: the release profile (for packages: scripts/package-deb.sh --binary … --arch ARCH);
#              default the dev profile, quicker to build for the check
set -euo pipefail
cd "$(dirname "$0")/.."
profile=dev dir=debug run=1 arch=arm64
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="$2"; shift ;;
    --release) profile=release dir=release ;;
    --no-run) run=0 ;;
    *) echo "cross-gateway: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
case "$arch" in
  arm64) target=aarch64-unknown-linux-gnu gnu=aarch64-linux-gnu qemu=qemu-aarch64 libc=libc6-dev-arm64-cross ;;
  armhf) target=armv7-unknown-linux-gnueabihf gnu=arm-linux-gnueabihf qemu=qemu-arm libc=libc6-dev-armhf-cross ;;
  *) echo "cross-gateway: --arch arm64 or armhf" >&2; exit 2 ;;
esac
need=()
command -v "$gnu-gcc" >/dev/null 2>&1 || need+=("gcc-$gnu" "$libc")
command -v "$qemu" >/dev/null 2>&1 || need+=(qemu-user)
if ((${#need[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "cross-gateway: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
rustup target list --installed | grep -qx "$target" || rustup target add "$target"
t="$(echo "$target" | tr a-z- A-Z_)"
export "CARGO_TARGET_${t}_LINKER=$gnu-gcc"
export "CC_${target//-/_}=$gnu-gcc" "AR_${target//-/_}=$gnu-ar"
cargo build -q --profile "$profile" --target "$target" -p meili-daemon
bin="${CARGO_TARGET_DIR:-target}/$target/$dir/meilid"
echo "cross-gateway: $bin ($(du -h "$bin" | cut -f1)): $(file -b "$bin" | cut -d, -f1-2)"
[ "$run" = 1 ] || exit 0

arm() { "$qemu" -L "/usr/$gnu" "$bin" "$@"; }
fail() { echo "cross-gateway ($arch): FAILED: $*" >&2; exit 1; }
arm --version | grep -q '^meilid ' || fail "--version"
out="$(arm calc aqi --standard 2026 --pm2_5 75 --format json)"
echo "cross-gateway: calc aqi → $out"
echo "$out" | grep -q '"aqi":114' || fail "calc aqi (want 114)"
arm calc ldn --levels 50,50,50,50,50,50,50,50,50,50,50,50,50,50,50,50,50,50,50,50,50,50,50,50 --format json \
  | grep -q '"ldn":56' || fail "calc ldn"
arm check-config configs/demo.toml >/dev/null || fail "check-config configs/demo.toml"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
arm demo --duration 15s --data-dir "$tmp/data" --mqtt-port 0 --http-listen 127.0.0.1:0 > "$tmp/demo.txt" 2> "$tmp/demo.log" \
  || { tail -20 "$tmp/demo.log" >&2; fail "demo"; }
tail -25 "$tmp/demo.txt"
grep -q 'LAeq [0-9]' "$tmp/demo.txt" || fail "the demo table shows no noise levels"
grep -q 'PM2.5 [0-9]' "$tmp/demo.txt" || fail "the demo table shows no PM2.5"
grep -q '^lighting_rate_main' "$tmp/demo.txt" || fail "the demo table shows no compliance figures"
echo "cross-gateway: the $arch meilid ran under qemu-user: version, calc, check-config, a 15 s demo with figures"
