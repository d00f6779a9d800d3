//! The thread-mode executor: polls the tasks, then sleeps with WFI until an interrupt. (Embassy's
//! own thread executor sleeps with WFE, which QEMU runs as a busy loop that starves its serial
//! ports; WFI sleeps on both the emulated and the real core.)

use core::sync::atomic::{AtomicBool, Ordering};

use embassy_executor::{raw, Spawner};

static WORK: AtomicBool = AtomicBool::new(true);

#[export_name = "__pender"]
fn pender(_context: *mut ()) {
    WORK.store(true, Ordering::Release);
}

/// Run forever: `init` spawns the first task.
pub fn run(init: impl FnOnce(Spawner)) -> ! {
    crate::stack::paint();
    let Some(executor) =
        cortex_m::singleton!(: raw::Executor = raw::Executor::new(core::ptr::null_mut()))
    else {
        cortex_m::peripheral::SCB::sys_reset()
    };
    let executor: &'static raw::Executor = executor;
    init(executor.spawner());
    loop {
        // SAFETY: polled from this one thread only, never re-entered.
        unsafe { executor.poll() };
        cortex_m::interrupt::free(|_| {
            // WFI with interrupts masked still wakes on a pending one, which then runs when
            // the critical section ends: no wake-up is lost between the check and the sleep.
            if !WORK.swap(false, Ordering::AcqRel) {
                cortex_m::asm::wfi();
            }
        });
    }
}
