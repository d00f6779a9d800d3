//! The board: the only code that differs between the emulated and the product build. Each
//! board module provides the same names: `Board` (console, modem and sensor ports, flash,
//! watchdog, reset reason, modem power key, RTC, the kind's own inputs and outputs), `init`,
//! `restart`, `CONFIG_RANGE`, `QUEUE_RANGE`; `*_io.rs` the kinds' pins.

#[cfg(feature = "board-qemu")]
mod qemu_an386;
#[cfg(feature = "board-qemu")]
pub use qemu_an386::*;
#[cfg(feature = "board-qemu")]
mod qemu_io;
#[cfg(feature = "board-qemu")]
pub use qemu_io::*;

#[cfg(feature = "board-stm32f407")]
mod stm32f407;
#[cfg(feature = "board-stm32f407")]
pub use stm32f407::*;
#[cfg(feature = "board-stm32f407")]
mod stm32f407_io;
#[cfg(feature = "board-stm32f407")]
pub use stm32f407_io::*;

/// A board's flash error: what went wrong, in embedded-storage's terms.
#[derive(Debug)]
pub struct FlashError(pub embedded_storage_async::nor_flash::NorFlashErrorKind);

impl embedded_storage_async::nor_flash::NorFlashError for FlashError {
    fn kind(&self) -> embedded_storage_async::nor_flash::NorFlashErrorKind {
        self.0
    }
}

/// Why the device last started (reported in its status message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    PowerOn,
    Watchdog,
    Software,
    Pin,
    Brownout,
}

impl ResetReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetReason::PowerOn => "power_on",
            ResetReason::Watchdog => "watchdog",
            ResetReason::Software => "software",
            ResetReason::Pin => "pin",
            ResetReason::Brownout => "brownout",
        }
    }
}

// The shapes every board fills, with its own types (`Uart`, `Flash`, `StallPin`, …).

pub struct Board {
    pub console: Uart,
    /// The SHT4x's I2C bus (air stations), where the board has one.
    pub climate: Option<I2c>,
    pub modem: Uart,
    pub sensor: Uart,
    /// The field bus (RS-485): the Modbus RTU slave's port.
    pub bus: Uart,
    pub config_flash: Flash,
    pub queue_flash: Flash,
    pub watchdog: Watchdog,
    pub reset: ResetReason,
    pub modem_power: ModemPower,
    pub rtc: Option<Rtc>,
    /// The kind's own inputs and outputs (the board's `*_io.rs`).
    pub toilet: Option<ToiletIo>,
    pub lamp: Option<LampIo>,
    pub mic: Option<MicPins>,
}

/// A toilet's inputs (`changed` is the board's: EXTI edges, or never when unwired) and cells.
pub struct ToiletIo {
    pub inputs: ToiletInputs,
    pub nh3: AdcInput,
    pub h2s: AdcInput,
}

pub struct ToiletInputs {
    pub stalls: [StallPin; 8],
    pub beam: StallPin,
    pub open: StallPin,
}

/// A streetlight's relay, dimmer and lamp meter.
pub struct LampIo {
    pub relay: Relay,
    pub dimmer: Dimmer,
    pub meter: LampMeter,
}
