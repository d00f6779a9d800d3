//! Put the board's memory.x (and, for the emulated board, an empty device.x: its interrupt
//! table is in src/board/qemu_an386.rs) where the linker finds them.
fn main() {
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let qemu = std::env::var_os("CARGO_FEATURE_BOARD_QEMU").is_some();
    let memory = if qemu {
        "memory-qemu.x"
    } else {
        "memory-stm32f407.x"
    };
    let _ = std::fs::copy(memory, out.join("memory.x"));
    if qemu {
        let _ = std::fs::write(out.join("device.x"), "");
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory-qemu.x");
    println!("cargo:rerun-if-changed=memory-stm32f407.x");
}
