#!/usr/bin/env bash
# Cross-build the no_std firmware for a Cortex-M4F (thumbv7em-none-eabihf). Only the host
# target ships with rustup here and targets cannot be downloaded, so this uses Debian's
# packaged compiler and library sources (rustc-web, rust-web-src) to build `core` itself.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/rustc ] || [ ! -d /usr/lib/rustlib/src/rust ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "firmware-cross: installing rustc-web rust-web-src"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq rustc-web rust-web-src >/dev/null
fi
RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/cross" \
  cargo build -p meili-firmware --release --target thumbv7em-none-eabihf \
  -Zbuild-std=core,compiler_builtins -Zbuild-std-features=compiler-builtins-mem
echo "firmware-cross: meili-firmware builds for thumbv7em-none-eabihf"
