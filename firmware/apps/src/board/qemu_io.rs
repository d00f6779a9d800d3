//! The emulated board's kind-specific inputs and outputs: QEMU's mps2-an386 models no GPIO,
//! ADC, PWM, I2S or RTC, so they are unwired here, read as a board with nothing connected
//! would (switches open, ADC at 0, no microphone, no calendar). The applications run the same
//! code as on the product board (`stm32f407_io.rs`).

use core::convert::Infallible;

use super::{LampIo, ToiletInputs, ToiletIo};

/// No battery-backed calendar: time comes from the modem after every start.
pub struct Rtc;

impl Rtc {
    pub fn now_unix(&self) -> Option<i64> {
        None
    }
    pub fn set_unix(&mut self, _: i64) {}
}

/// An input with nothing connected (pulled down).
pub struct StallPin;

impl embedded_hal::digital::ErrorType for StallPin {
    type Error = Infallible;
}

impl embedded_hal::digital::InputPin for StallPin {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(false)
    }
    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(true)
    }
}

/// An ADC input with nothing connected.
pub struct AdcInput;

impl meili_firmware::drivers::gas::AdcChannel for AdcInput {
    type Error = ();
    fn read_raw(&mut self) -> Result<u16, ()> {
        Ok(0)
    }
}

impl ToiletInputs {
    /// Unwired inputs never change.
    pub async fn changed(&mut self) {
        core::future::pending::<()>().await
    }
}

/// The relay's state, kept for nothing.
pub struct Relay(bool);

impl embedded_hal::digital::ErrorType for Relay {
    type Error = Infallible;
}

impl embedded_hal::digital::OutputPin for Relay {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.0 = false;
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Infallible> {
        self.0 = true;
        Ok(())
    }
}

pub struct Dimmer(u16);

impl embedded_hal::pwm::ErrorType for Dimmer {
    type Error = Infallible;
}

impl embedded_hal::pwm::SetDutyCycle for Dimmer {
    fn max_duty_cycle(&self) -> u16 {
        1000
    }
    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Infallible> {
        self.0 = duty;
        Ok(())
    }
}

/// A lamp meter with nothing connected: both inputs at mid-scale bias, 0 V and 0 A.
pub struct LampMeter;

impl LampMeter {
    pub async fn sample(&mut self, out: &mut [(u16, u16)]) -> bool {
        out.fill((2048, 2048));
        embassy_time::Timer::after_millis(100).await;
        true
    }
}

pub(super) fn toilet_io() -> ToiletIo {
    ToiletIo {
        inputs: ToiletInputs {
            stalls: [const { StallPin }; 8],
            beam: StallPin,
            open: StallPin,
        },
        nh3: AdcInput,
        h2s: AdcInput,
    }
}

pub(super) fn lamp_io() -> LampIo {
    LampIo {
        relay: Relay(false),
        dimmer: Dimmer(0),
        meter: LampMeter,
    }
}

/// No I2S: the emulated noise meter uses its RS-485 transmitter.
pub enum MicPins {}

pub struct Mic(Infallible);

pub const MIC_RATE_HZ: u32 = 48_000;

impl Mic {
    pub fn start(p: MicPins) -> Option<Mic> {
        match p {}
    }
    pub async fn read(&mut self, _: &mut [f32; 128]) -> Result<(), ()> {
        match self.0 {}
    }
}

/// No hardware random number generator on the emulated board.
pub async fn entropy(_: &mut [u8; 32]) -> bool {
    false
}
