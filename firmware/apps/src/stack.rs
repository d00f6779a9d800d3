//! Stack painting: at boot the free RAM between the static data and the stack pointer is
//! filled with a pattern; the deepest word no longer holding it shows the peak stack use
//! (console `status`, docs/firmware.md).

const PAINT: u32 = 0x5AA5_5AA5;

extern "C" {
    // From cortex-m-rt's link.x: the end of the static data (start of the unused heap) and
    // the top of the stack.
    static mut __sheap: u32;
    static mut _stack_start: u32;
}

fn bounds() -> (*mut u32, usize) {
    // Only the symbols' addresses are taken.
    let low = core::ptr::addr_of_mut!(__sheap);
    let top = core::ptr::addr_of_mut!(_stack_start) as usize;
    (low, top)
}

/// Paint from the end of the static data up to 256 bytes below the current stack pointer.
pub fn paint() {
    let (low, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize - 256;
    let mut p = low;
    while (p as usize) < sp {
        // SAFETY: the words between the static data and the live stack belong to no one yet.
        unsafe { p.write_volatile(PAINT) };
        p = p.wrapping_add(1);
    }
}

/// The peak stack use so far, in bytes.
pub fn peak_bytes() -> usize {
    let (low, top) = bounds();
    let mut p = low;
    // SAFETY: reads of RAM between the static data and the stack top.
    while (p as usize) < top && unsafe { p.read_volatile() } == PAINT {
        p = p.wrapping_add(1);
    }
    top - p as usize
}
