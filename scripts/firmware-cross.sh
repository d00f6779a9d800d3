#!/usr/bin/env bash
# Cross-build the no_std firmware for a Cortex-M4F (thumbv7em-none-eabihf). Only the host
# target ships with rustup here and targets cannot be downloaded, so this uses Debian's
# packaged compiler and library sources (rustc-web, rust-web-src) to build `core` itself,
# links the device applications and prints their sizes (docs/firmware.md).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/rustc ] || [ ! -d /usr/lib/rustlib/src/rust ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "firmware-cross: installing rustc-web rust-web-src"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq rustc-web rust-web-src >/dev/null
fi
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")/cross"
build=(--release --target thumbv7em-none-eabihf
       -Zbuild-std=core,compiler_builtins -Zbuild-std-features=compiler-builtins-mem)
RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$target_dir" \
  cargo build -p meili-firmware "${build[@]}"
echo "firmware-cross: meili-firmware builds for thumbv7em-none-eabihf"
# The four device applications, linked for an STM32F4 (firmware/apps/memory.x) with rustup's
# rust-lld; their flash and static RAM must stay within 64 KiB / 16 KiB.
lld="$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld"
RUSTFLAGS="-C linker=$lld -C link-arg=-Tlink.x" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
  CARGO_TARGET_DIR="$target_dir" \
  cargo build --manifest-path firmware/apps/Cargo.toml "${build[@]}"
bin="$target_dir/thumbv7em-none-eabihf/release"
python3 scripts/firmware-size.py "$bin/noise" "$bin/air" "$bin/toilet" "$bin/streetlight"
