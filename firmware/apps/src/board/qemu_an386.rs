//! The emulated board: QEMU's `mps2-an386` (Cortex-M4F, 25 MHz, CMSDK peripherals).
//!
//! Chosen because QEMU 7.2 (Debian 12) models its UARTs, SysTick and watchdog faithfully,
//! including the watchdog's system reset; its STM32F405 model (`netduinoplus2`) has no clock
//! controller, DMA or watchdog, so an Embassy STM32 image would hang there. Only this module
//! differs from the product build (`stm32f407.rs`).
//!
//! | port | CMSDK UART | QEMU `-serial` | product board |
//! |---|---|---|---|
//! | console (logs, provisioning) | UART0 | 1st | USART1 |
//! | 4G modem (AT commands) | UART1 | 2nd | USART2 |
//! | sensor (PMS5003 / RS-485) | UART2 | 3rd | USART3 |
//! | field bus (Modbus RTU slave) | UART3 | 4th | USART6 |
//!
//! Flash is emulated in SSRAM1 above the image (NOR semantics: erase to 0xFF, programming
//! only clears bits), so it survives a watchdog reset but not the end of the QEMU process.

use core::cell::{Cell, RefCell};
use core::convert::Infallible;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::Waker;

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::pipe::Pipe;
use embedded_storage_async::nor_flash::{
    ErrorType as FlashErrorType, MultiwriteNorFlash, NorFlash, NorFlashErrorKind, ReadNorFlash,
};

use super::{Board, FlashError, ResetReason};

pub const NAME: &str = "qemu-mps2-an386";
const SYSCLK_HZ: u32 = 25_000_000;

// ---------------------------------------------------------------- UARTs

const UART_BASE: [usize; 4] = [0x4000_4000, 0x4000_5000, 0x4000_6000, 0x4000_7000];
const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const INTCLEAR: usize = 0x0C;
const BAUDDIV: usize = 0x10;

static RX: [Pipe<CriticalSectionRawMutex, 512>; 4] =
    [Pipe::new(), Pipe::new(), Pipe::new(), Pipe::new()];
/// Bytes lost because a receive buffer was full (reported in the device status).
pub static RX_OVERRUNS: AtomicU32 = AtomicU32::new(0);

fn reg(base: usize, off: usize) -> *mut u32 {
    (base + off) as *mut u32
}

fn read(base: usize, off: usize) -> u32 {
    // SAFETY: `base + off` is a CMSDK peripheral register of this machine (fixed address map).
    unsafe { reg(base, off).read_volatile() }
}

fn write(base: usize, off: usize, v: u32) {
    // SAFETY: as in `read`.
    unsafe { reg(base, off).write_volatile(v) }
}

/// One serial port: received bytes arrive through an interrupt into a 512-byte pipe.
pub struct Uart {
    index: usize,
}

impl Uart {
    fn new(index: usize, baud: u32) -> Uart {
        let base = UART_BASE[index];
        write(base, BAUDDIV, SYSCLK_HZ / baud);
        // TX, RX, RX interrupt. QEMU stops polling a port's input when bytes arrived while its
        // receiver was off (before boot, or across a reset) and resumes on a read of DATA.
        write(base, CTRL, 0b1011);
        let _ = read(base, DATA);
        Uart { index }
    }

    fn on_rx(index: usize) {
        let base = UART_BASE[index];
        // Clear first, then drain: a byte arriving after the last check raises the
        // interrupt again instead of waiting unseen (which would stop the port for good).
        write(base, INTCLEAR, 0b10);
        while read(base, STATE) & 0b10 != 0 {
            let b = read(base, DATA) as u8;
            if RX[index].try_write(&[b]).is_err() {
                RX_OVERRUNS.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Drop whatever was received and not yet read.
    pub fn clear(&mut self) {
        RX[self.index].clear();
    }

    pub fn set_baud(&mut self, baud: u32) {
        write(UART_BASE[self.index], BAUDDIV, SYSCLK_HZ / baud.max(300));
    }
}

impl embedded_io_async::ErrorType for Uart {
    type Error = Infallible;
}

impl embedded_io_async::Read for Uart {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        Ok(RX[self.index].read(buf).await)
    }
}

impl embedded_io_async::Write for Uart {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        let base = UART_BASE[self.index];
        for &b in buf {
            // The emulated transmitter takes a byte at once; should it stall (no peer), other
            // tasks run while it waits.
            while read(base, STATE) & 1 != 0 {
                embassy_futures::yield_now().await;
            }
            write(base, DATA, u32::from(b));
        }
        Ok(buf.len())
    }
    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Irq(u16);

// SAFETY: the numbers are this machine's external interrupt lines (0–31).
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

extern "C" fn uart0_rx() {
    Uart::on_rx(0);
}
extern "C" fn uart1_rx() {
    Uart::on_rx(1);
}
extern "C" fn uart2_rx() {
    Uart::on_rx(2);
}
extern "C" fn uart3_rx() {
    Uart::on_rx(3);
}
extern "C" fn unused() {}

/// The vector table's 32 external interrupts (AN386: UART0 RX = 0, UART1 RX = 2, UART2 RX = 4,
/// UART3 RX = 18).
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
#[used]
static __INTERRUPTS: [extern "C" fn(); 32] = {
    let mut v: [extern "C" fn(); 32] = [unused; 32];
    v[0] = uart0_rx;
    v[2] = uart1_rx;
    v[4] = uart2_rx;
    v[18] = uart3_rx;
    v
};

// ---------------------------------------------------------------- time (SysTick, 1 kHz)

struct Ticks {
    now: Cell<u64>,
    next: Cell<u64>,
    queue: RefCell<embassy_time_queue_utils::Queue>,
}

static TIME: Mutex<Ticks> = Mutex::new(Ticks {
    now: Cell::new(0),
    next: Cell::new(u64::MAX),
    queue: RefCell::new(embassy_time_queue_utils::Queue::new()),
});

struct SysTickDriver;

impl embassy_time_driver::Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| TIME.borrow(cs).now.get())
    }
    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let t = TIME.borrow(cs);
            let mut q = t.queue.borrow_mut();
            if q.schedule_wake(at, waker) {
                t.next.set(q.next_expiration(t.now.get()));
            }
        });
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver);

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let t = TIME.borrow(cs);
        let now = t.now.get() + 1;
        t.now.set(now);
        if now >= t.next.get() {
            t.next.set(t.queue.borrow_mut().next_expiration(now));
        }
    });
}

// ---------------------------------------------------------------- watchdog and reset reason

const WDOG: usize = 0x4000_8000;
const MARK_WATCHDOG: u32 = 0x5744_4F47; // "WDOG"
const MARK_SOFTWARE: u32 = 0x5346_5457; // "SFTW"

#[link_section = ".uninit.MEILI_RESET"]
static mut RESET_MARK: MaybeUninit<u32> = MaybeUninit::uninit();

fn mark() -> *mut u32 {
    // Only the address is taken; `.uninit` survives a system reset in RAM.
    core::ptr::addr_of_mut!(RESET_MARK).cast()
}

/// The CMSDK watchdog: its first timeout raises an NMI (which records the reason), the
/// second resets the system.
pub struct Watchdog;

impl Watchdog {
    fn start(timeout_ms: u32) -> Watchdog {
        write(WDOG, 0xC00, 0x1ACC_E551); // unlock
        write(WDOG, 0x00, SYSCLK_HZ / 1000 * (timeout_ms / 2));
        write(WDOG, 0x08, 0b11); // interrupt + reset
        write(WDOG, 0xC00, 0);
        Watchdog
    }

    pub fn feed(&mut self) {
        write(WDOG, 0xC00, 0x1ACC_E551);
        write(WDOG, 0x0C, 1); // clears the interrupt and reloads
        write(WDOG, 0xC00, 0);
    }
}

// SAFETY: the handler only writes one RAM word and returns; the second timeout resets.
#[exception]
unsafe fn NonMaskableInt() {
    // SAFETY: a plain word in RAM that nothing else touches while the device resets.
    unsafe { mark().write_volatile(MARK_WATCHDOG) };
}

/// Restart on purpose (after provisioning), remembered as a software reset.
pub fn restart() -> ! {
    // SAFETY: as in `NonMaskableInt`.
    unsafe { mark().write_volatile(MARK_SOFTWARE) };
    cortex_m::peripheral::SCB::sys_reset()
}

fn take_reset_reason() -> ResetReason {
    // SAFETY: as in `NonMaskableInt`; read once at boot and cleared.
    let m = unsafe { mark().read_volatile() };
    unsafe { mark().write_volatile(0) };
    match m {
        MARK_WATCHDOG => ResetReason::Watchdog,
        MARK_SOFTWARE => ResetReason::Software,
        _ => ResetReason::PowerOn,
    }
}

// ---------------------------------------------------------------- flash (emulated NOR)

/// Emulated NOR flash in SSRAM1 at 0x0030_0000: 16 pages of 4 KiB.
pub struct Flash;

const FLASH_BASE: usize = 0x0030_0000;
pub const FLASH_SIZE: u32 = 64 * 1024;
/// Configuration map: pages 0–1; offline queue: pages 2–15 (56 KiB).
pub const CONFIG_RANGE: core::ops::Range<u32> = 0..8 * 1024;
pub const QUEUE_RANGE: core::ops::Range<u32> = 8 * 1024..FLASH_SIZE;

impl FlashErrorType for Flash {
    type Error = FlashError;
}

fn check(offset: u32, len: usize, align: u32) -> Result<usize, FlashError> {
    let end = offset as usize + len;
    if end > FLASH_SIZE as usize {
        return Err(FlashError(NorFlashErrorKind::OutOfBounds));
    }
    if !offset.is_multiple_of(align) || !(len as u32).is_multiple_of(align) {
        return Err(FlashError(NorFlashErrorKind::NotAligned));
    }
    Ok(FLASH_BASE + offset as usize)
}

impl ReadNorFlash for Flash {
    const READ_SIZE: usize = 1;
    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        let at = check(offset, bytes.len(), 1)?;
        for (i, b) in bytes.iter_mut().enumerate() {
            // SAFETY: inside the emulated flash area, which nothing else uses.
            *b = unsafe { ((at + i) as *const u8).read_volatile() };
        }
        Ok(())
    }
    fn capacity(&self) -> usize {
        FLASH_SIZE as usize
    }
}

impl NorFlash for Flash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;
    async fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        let at = check(from, (to - from) as usize, Self::ERASE_SIZE as u32)?;
        for i in 0..(to - from) as usize {
            // SAFETY: as in `read`.
            unsafe { ((at + i) as *mut u8).write_volatile(0xFF) };
        }
        Ok(())
    }
    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        let at = check(offset, bytes.len(), Self::WRITE_SIZE as u32)?;
        for (i, b) in bytes.iter().enumerate() {
            let p = (at + i) as *mut u8;
            // SAFETY: as in `read`. NOR programming can only clear bits.
            unsafe { p.write_volatile(p.read_volatile() & b) };
        }
        Ok(())
    }
}

impl MultiwriteNorFlash for Flash {}

// ---------------------------------------------------------------- the board

/// The emulated board has no I2C sensor: its climate bus is absent (`None`).
pub struct NoBus;

impl embedded_hal::i2c::ErrorType for NoBus {
    type Error = embedded_hal::i2c::ErrorKind;
}

impl embedded_hal::i2c::I2c for NoBus {
    fn transaction(
        &mut self,
        _: u8,
        _: &mut [embedded_hal::i2c::Operation<'_>],
    ) -> Result<(), Self::Error> {
        Err(embedded_hal::i2c::ErrorKind::Other)
    }
}

pub type I2c = NoBus;

/// The modem's power key: a GPIO on the product board; not wired in the emulator.
pub struct ModemPower;

impl ModemPower {
    pub async fn cycle(&mut self) {
        embassy_time::Timer::after_millis(500).await;
    }
}

/// Where a provisioning image (`meilid device provision --board qemu`) is loaded with QEMU's
/// `-device loader,file=…,addr=0x00311000`: QEMU copies a loader's bytes again at every
/// reset, so they go to this window, and the first boot copies them into the configuration
/// range once, as a programmer writes the sector once on the product board.
const PROVISION_WINDOW: usize = 0x0031_1000;

/// A new chip's flash is erased (all 0xFF); QEMU's RAM starts at zero, so the first boot of
/// a QEMU process erases the area once, marked by a word just past it, and takes in a
/// provisioning image if one was loaded.
fn erase_if_new() {
    const MAGIC: u32 = 0x4D45_494C; // "MEIL"
    let marker = (FLASH_BASE + FLASH_SIZE as usize) as *mut u32;
    let window = |i: usize| (PROVISION_WINDOW + i) as *const u8;
    // SAFETY: the word after the emulated flash area and the window above it, in SSRAM1,
    // used for nothing else.
    unsafe {
        if marker.read_volatile() != MAGIC {
            let config = CONFIG_RANGE.start as usize..CONFIG_RANGE.end as usize;
            let loaded = config.clone().any(|i| window(i).read_volatile() != 0);
            for i in 0..FLASH_SIZE as usize {
                let b = if loaded && config.contains(&i) {
                    window(i).read_volatile()
                } else {
                    0xFF
                };
                ((FLASH_BASE + i) as *mut u8).write_volatile(b);
            }
            marker.write_volatile(MAGIC);
        }
    }
}

/// Bring the board up: clocks, ports, timebase, watchdog (`watchdog_ms`), and the inputs and
/// outputs of `kind`.
pub fn init(kind: meili_firmware::payload::Kind, sensor_baud: u32, watchdog_ms: u32) -> Board {
    use meili_firmware::payload::Kind;
    let reset = take_reset_reason();
    erase_if_new();
    let Some(mut cp) = cortex_m::Peripherals::take() else {
        cortex_m::peripheral::SCB::sys_reset()
    };
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(SYSCLK_HZ / 1000 - 1);
    cp.SYST.clear_current();
    cp.SYST.enable_counter();
    cp.SYST.enable_interrupt();
    let board = Board {
        console: Uart::new(0, 115_200),
        climate: None,
        modem: Uart::new(1, 115_200),
        sensor: Uart::new(2, sensor_baud),
        bus: Uart::new(3, 9600),
        config_flash: Flash,
        queue_flash: Flash,
        watchdog: Watchdog::start(watchdog_ms),
        reset,
        modem_power: ModemPower,
        rtc: None,
        toilet: (kind == Kind::Toilet).then(super::qemu_io::toilet_io),
        lamp: (kind == Kind::Streetlight).then(super::qemu_io::lamp_io),
        mic: None,
    };
    for irq in [0, 2, 4, 18] {
        // SAFETY: the handlers above are ready and only touch their own pipe.
        unsafe { cortex_m::peripheral::NVIC::unmask(Irq(irq)) };
    }
    board
}
