//! The product board's kind-specific inputs and outputs (pin map: docs/firmware.md).
//!
//! | kind | peripheral | pins |
//! |---|---|---|
//! | noise (mic) | I2S2 receive, 48 kHz, DMA1 stream 3 | PB15 SD, PB12 WS, PB13 CK |
//! | toilet | 8 stall switches, EXTI0–7 | PD0–PD7 (high = occupied) |
//! | toilet | entry beam, open switch, EXTI8–9 | PD8 (high = broken), PD9 (high = open) |
//! | toilet | NH3 and H2S cells on ADC1 | PA0 (IN0), PA1 (IN1) |
//! | streetlight | lamp relay | PC0 (high = on) |
//! | streetlight | dimming PWM 1 kHz, TIM3 CH1 | PA6 |
//! | streetlight | lamp voltage and current on ADC1 | PA4 (IN4), PA5 (IN5) |
//! | all | RTC on the 32.768 kHz crystal, VBAT | backup register 0 marks a set clock |

use core::cell::RefCell;

use critical_section::Mutex;
use embassy_futures::select::{select, select_array};
use embassy_stm32::adc::{Adc, AnyAdcChannel, SampleTime};
use embassy_stm32::exti::ExtiInput;
use embassy_stm32::gpio::{Output, OutputType};
use embassy_stm32::i2s::{Format, I2S};
use embassy_stm32::mode::Async;
use embassy_stm32::peripherals::{ADC1, DMA1_CH3, PB12, PB13, PB15, SPI2, TIM3};
use embassy_stm32::rtc::{DateTime, DayOfWeek, Rtc as Stm32Rtc};
use embassy_stm32::time::Hertz;
use embassy_stm32::timer::simple_pwm::SimplePwmChannel;
use embassy_stm32::Peri;
use meili_firmware::drivers::quectel::{civil_from_unix, unix_from_civil};

use super::ToiletInputs;

// ---------------------------------------------------------------- RTC

const RTC_SET: u32 = 0x4D45_494C; // "MEIL" in backup register 0: the calendar was set

/// The RTC, kept by the VBAT cell across power loss.
pub struct Rtc(
    pub(super) Stm32Rtc,
    pub(super) embassy_stm32::rtc::RtcTimeProvider,
);

impl Rtc {
    /// UNIX seconds, once the clock was set from the network.
    pub fn now_unix(&self) -> Option<i64> {
        if self.0.read_backup_register(0) != Some(RTC_SET) {
            return None;
        }
        let t = self.1.now().ok()?;
        Some(unix_from_civil((
            i64::from(t.year()),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            0,
        )))
    }

    pub fn set_unix(&mut self, t: i64) {
        let (y, mo, d, h, mi, s, wd) = civil_from_unix(t);
        let wd = match wd {
            1 => DayOfWeek::Monday,
            2 => DayOfWeek::Tuesday,
            3 => DayOfWeek::Wednesday,
            4 => DayOfWeek::Thursday,
            5 => DayOfWeek::Friday,
            6 => DayOfWeek::Saturday,
            _ => DayOfWeek::Sunday,
        };
        let Ok(year) = u16::try_from(y) else { return };
        if let Ok(dt) = DateTime::from(year, mo, d, wd, h, mi, s, 0) {
            if self.0.set_datetime(dt).is_ok() {
                self.0.write_backup_register(0, RTC_SET);
            }
        }
    }
}

// ---------------------------------------------------------------- ADC

static ADC: Mutex<RefCell<Option<Adc<'static, ADC1>>>> = Mutex::new(RefCell::new(None));

/// One input of ADC1 (12 bits, 3.3 V), shared by the gas cells or the lamp meter.
pub struct AdcInput(AnyAdcChannel<'static, ADC1>);

impl AdcInput {
    pub(super) fn new(ch: AnyAdcChannel<'static, ADC1>) -> Self {
        AdcInput(ch)
    }
    fn read(&mut self) -> Option<u16> {
        critical_section::with(|cs| {
            let mut adc = ADC.borrow(cs).borrow_mut();
            let adc = adc.as_mut()?;
            Some(adc.blocking_read(&mut self.0, SampleTime::CYCLES112))
        })
    }
}

pub(super) fn adc_init(adc: Peri<'static, ADC1>) {
    critical_section::with(|cs| *ADC.borrow(cs).borrow_mut() = Some(Adc::new(adc)));
}

impl meili_firmware::drivers::gas::AdcChannel for AdcInput {
    type Error = ();
    fn read_raw(&mut self) -> Result<u16, ()> {
        self.read().ok_or(())
    }
}

// ---------------------------------------------------------------- toilet

pub type StallPin = ExtiInput<'static, Async>;

impl ToiletInputs {
    /// Until any input changes level (an EXTI edge).
    pub async fn changed(&mut self) {
        let stalls = select_array(self.stalls.each_mut().map(|p| p.wait_for_any_edge()));
        select(
            stalls,
            select(self.beam.wait_for_any_edge(), self.open.wait_for_any_edge()),
        )
        .await;
    }
}

// ---------------------------------------------------------------- streetlight

pub type Relay = Output<'static>;
pub type Dimmer = SimplePwmChannel<'static, TIM3>;

pub struct LampMeter {
    pub(super) voltage: AdcInput,
    pub(super) current: AdcInput,
}

impl LampMeter {
    /// Fill `out` with (voltage, current) pairs, one each 500 µs (40 per 50 Hz cycle).
    pub async fn sample(&mut self, out: &mut [(u16, u16)]) -> bool {
        let mut t = embassy_time::Ticker::every(embassy_time::Duration::from_micros(500));
        for x in out.iter_mut() {
            match (self.voltage.read(), self.current.read()) {
                (Some(v), Some(i)) => *x = (v, i),
                _ => return false,
            }
            t.next().await;
        }
        true
    }
}

pub(super) const PWM_HZ: Hertz = Hertz(1_000);
pub(super) const PWM_OUTPUT: OutputType = OutputType::PushPull;

// ---------------------------------------------------------------- microphone

/// The I2S microphone's pins and DMA channel, started by [`Mic::start`] when the device is
/// configured for it (`noise_input mic`).
pub struct MicPins {
    pub(super) spi: Peri<'static, SPI2>,
    pub(super) sd: Peri<'static, PB15>,
    pub(super) ws: Peri<'static, PB12>,
    pub(super) ck: Peri<'static, PB13>,
    pub(super) dma: Peri<'static, DMA1_CH3>,
}

/// An ICS-43434-class microphone (24-bit, left channel) at 48 kHz by DMA into a ring buffer.
pub struct Mic(I2S<'static, u16>);

pub const MIC_RATE_HZ: u32 = 48_000;

impl Mic {
    pub fn start(p: MicPins) -> Option<Mic> {
        let buf = cortex_m::singleton!(: [u16; 2048] = [0; 2048])?;
        let mut config = embassy_stm32::i2s::Config::default();
        config.frequency = Hertz(MIC_RATE_HZ);
        config.format = Format::Data24Channel32;
        config.master_clock = false;
        let mut i2s = I2S::new_rxonly_nomck(
            p.spi,
            p.sd,
            p.ws,
            p.ck,
            p.dma,
            buf,
            super::stm32f407::Irqs,
            config,
        );
        i2s.start();
        Some(Mic(i2s))
    }

    /// The next left-channel samples (full scale ±1.0) into `out`; after an overrun the ring
    /// buffer restarts on a frame boundary and the error is returned.
    pub async fn read(&mut self, out: &mut [f32; 128]) -> Result<(), ()> {
        // A stereo frame is four half-words: left high, left low, right high, right low.
        let mut words = [0u16; 512];
        self.0.read(&mut words).await.map_err(|_| ())?;
        for (o, f) in out.iter_mut().zip(words.chunks_exact(4)) {
            *o = meili_firmware::drivers::sound::i2s24(f[0], f[1]);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- RNG

static RNG: Mutex<
    RefCell<Option<embassy_stm32::rng::Rng<'static, embassy_stm32::peripherals::RNG>>>,
> = Mutex::new(RefCell::new(None));

pub(super) fn rng_init(rng: embassy_stm32::rng::Rng<'static, embassy_stm32::peripherals::RNG>) {
    critical_section::with(|cs| *RNG.borrow(cs).borrow_mut() = Some(rng));
}

/// 32 bytes from the hardware RNG (true when it delivered).
pub async fn entropy(out: &mut [u8; 32]) -> bool {
    let Some(mut rng) = critical_section::with(|cs| RNG.borrow(cs).borrow_mut().take()) else {
        return false;
    };
    let ok = rng.async_fill_bytes(out).await.is_ok();
    critical_section::with(|cs| *RNG.borrow(cs).borrow_mut() = Some(rng));
    ok
}
