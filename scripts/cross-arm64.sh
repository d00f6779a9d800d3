#!/usr/bin/env bash
# meilid for arm64 gateways (aarch64-unknown-linux-gnu, RK3568/RK3588, Raspberry Pi class),
# cross-built on this amd64 machine with rustup's std for the target and Debian's cross gcc as
# the linker (ring's C and assembly too), then run under qemu-user (Debian's qemu-user):
# --version, calc, check-config and a 15-second demo whose table must show figures.
# Usage: scripts/cross-arm64.sh [--release] [--no-run]
#   --release: the release profile (for packages: scripts/package-deb.sh --binary … --arch arm64);
#              default the dev profile, quicker to build for the check
set -euo pipefail
cd "$(dirname "$0")/.."
profile=dev dir=debug run=1
for a in "$@"; do
  case "$a" in
    --release) profile=release dir=release ;;
    --no-run) run=0 ;;
    *) echo "cross-arm64: unknown argument $a" >&2; exit 2 ;;
  esac
done
need=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null 2>&1 || need+=(qemu-user)
if ((${#need[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "cross-arm64: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
cargo build -q --profile "$profile" --target aarch64-unknown-linux-gnu -p meili-daemon
bin="${CARGO_TARGET_DIR:-target}/aarch64-unknown-linux-gnu/$dir/meilid"
echo "cross-arm64: $bin ($(du -h "$bin" | cut -f1)): $(file -b "$bin" | cut -d, -f1-2)"
[ "$run" = 1 ] || exit 0

arm() { qemu-aarch64 -L /usr/aarch64-linux-gnu "$bin" "$@"; }
fail() { echo "cross-arm64: FAILED: $*" >&2; exit 1; }
arm --version | grep -q '^meilid ' || fail "--version"
out="$(arm calc aqi --standard 2026 --pm2_5 75 --format json)"
echo "cross-arm64: calc aqi → $out"
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
echo "cross-arm64: the arm64 meilid ran under qemu-user: version, calc, check-config, a 15 s demo with figures"
