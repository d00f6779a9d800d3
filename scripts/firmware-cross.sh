#!/usr/bin/env bash
# Cross-build the firmware for a Cortex-M4F (thumbv7em-none-eabihf): the no_std library, and
# the device images (firmware/apps) for the emulated board (QEMU mps2-an386) and the product
# board (STM32F407). Writes target/firmware/<board>/<kind>.{elf,bin,hex} and prints flash/RAM
# per image (docs/firmware.md).
# Uses rustup's target when it can be installed, else Debian's rustc-web + rust-web-src
# (building `core` from source).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")/cross"
lld="$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld"
build=(--release --target thumbv7em-none-eabihf)
env_rustc=()
if rustup target list --installed 2>/dev/null | grep -q thumbv7em-none-eabihf \
   || rustup target add thumbv7em-none-eabihf >/dev/null 2>&1; then
  echo "firmware-cross: rustup's thumbv7em-none-eabihf"
else
  if [ ! -x /usr/bin/rustc ] || [ ! -d /usr/lib/rustlib/src/rust ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "firmware-cross: installing rustc-web rust-web-src"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq rustc-web rust-web-src >/dev/null
  fi
  build+=(-Zbuild-std=core,compiler_builtins -Zbuild-std-features=compiler-builtins-mem)
  env_rustc=(RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1)
fi
env "${env_rustc[@]}" CARGO_TARGET_DIR="$target_dir" cargo build -q -p meili-firmware "${build[@]}"
echo "firmware-cross: meili-firmware builds for thumbv7em-none-eabihf"
env "${env_rustc[@]}" RUSTFLAGS="-C linker=$lld -C link-arg=-Tlink.x" CARGO_TARGET_DIR="$target_dir" \
  cargo build -q --manifest-path firmware/apps/Cargo.toml --features board-qemu "${build[@]}"
bin="$target_dir/thumbv7em-none-eabihf/release"
out="$(realpath -m "${CARGO_TARGET_DIR:-target}")/firmware"
mkdir -p "$out/qemu-mps2-an386" "$out/stm32f407"
for kind in air noise toilet streetlight; do
  python3 scripts/firmware-image.py "$bin/$kind" "$out/qemu-mps2-an386/$kind"
done
# The product board: the same applications on embassy-stm32 (its own target dir: other features).
env "${env_rustc[@]}" RUSTFLAGS="-C linker=$lld -C link-arg=-Tlink.x" CARGO_TARGET_DIR="$target_dir-stm32" \
  cargo build -q --manifest-path firmware/apps/Cargo.toml --features board-stm32f407 "${build[@]}"
for kind in air noise toilet streetlight; do
  python3 scripts/firmware-image.py "$target_dir-stm32/thumbv7em-none-eabihf/release/$kind" "$out/stm32f407/$kind"
done
echo "firmware-cross: images in $out/{qemu-mps2-an386,stm32f407} (.elf .bin .hex)"
echo "qemu-mps2-an386:"
python3 scripts/firmware-size.py "$out"/qemu-mps2-an386/{air,noise,toilet,streetlight}.elf
echo "stm32f407:"
python3 scripts/firmware-size.py "$out"/stm32f407/{air,noise,toilet,streetlight}.elf
