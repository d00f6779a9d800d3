//! Shared pieces of the device applications: the board's inputs are read through
//! `core::hint::black_box` so that the size figures include all the code a real board runs.
#![no_std]

use core::hint::black_box;

/// Stand-in for a board input (a peripheral register read on real hardware).
pub fn input<T>(v: T) -> T {
    black_box(v)
}

/// Halt on panic (the watchdog restarts the device).
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
