//! The product board: an STM32F407 core board (Cortex-M4F at 168 MHz from an 8 MHz crystal,
//! 1 MiB flash, 192 KiB RAM) with a Quectel EC800N module, on embassy-stm32. Pin map:
//! docs/firmware.md. Built, not yet run on hardware.
//!
//! | port | peripheral | pins |
//! |---|---|---|
//! | console | USART1 115200 | PA9 TX, PA10 RX |
//! | 4G module | USART2 115200 | PA2 TX, PA3 RX; power key PB0 |
//! | sensor: PMS5003 or RS-485 | USART3 9600 | PB10 TX, PB11 RX; RS-485 DE/RE PB14 |
//! | SHT4x (air) | I2C1 100 kHz | PB6 SCL, PB7 SDA |
//! | field bus: RS-485 Modbus RTU slave | USART6 | PC6 TX, PC7 RX; DE/RE PC8 |
//!
//! Flash: code in sectors 0–5 (256 KiB, memory-stm32f407.x); the offline queue in sectors
//! 6–9 (512 KiB) and the configuration in sectors 10–11 (2 × 128 KiB).

use core::cell::RefCell;

use critical_section::Mutex;
use embassy_stm32::adc::AdcChannel as _;
use embassy_stm32::exti::ExtiInput;
use embassy_stm32::flash::{Blocking, Flash as Stm32Flash};
use embassy_stm32::gpio::{Level, Output, Speed};
use embassy_stm32::peripherals::{IWDG, USART1, USART2, USART3, USART6};
use embassy_stm32::time::Hertz;
use embassy_stm32::usart::{BufferedInterruptHandler, BufferedUart, Config as UartConfig};
use embassy_stm32::wdg::IndependentWatchdog;
use embassy_stm32::{bind_interrupts, exti, interrupt, pac};
use embedded_storage::nor_flash::{NorFlash as _, ReadNorFlash as _};
use embedded_storage_async::nor_flash::{
    ErrorType as FlashErrorType, MultiwriteNorFlash, NorFlash, NorFlashErrorKind, ReadNorFlash,
};

use meili_firmware::payload::Kind;

use super::stm32f407_io::{adc_init, AdcInput, LampMeter, MicPins, Rtc};
use super::{Board, FlashError, LampIo, ResetReason, ToiletInputs, ToiletIo};

pub const NAME: &str = "stm32f407";

bind_interrupts!(pub(super) struct Irqs {
    USART1 => BufferedInterruptHandler<USART1>;
    USART2 => BufferedInterruptHandler<USART2>;
    USART3 => BufferedInterruptHandler<USART3>;
    USART6 => BufferedInterruptHandler<USART6>;
    DMA1_STREAM3 => embassy_stm32::dma::InterruptHandler<embassy_stm32::peripherals::DMA1_CH3>;
    EXTI0 => exti::InterruptHandler<interrupt::typelevel::EXTI0>;
    EXTI1 => exti::InterruptHandler<interrupt::typelevel::EXTI1>;
    EXTI2 => exti::InterruptHandler<interrupt::typelevel::EXTI2>;
    EXTI3 => exti::InterruptHandler<interrupt::typelevel::EXTI3>;
    EXTI4 => exti::InterruptHandler<interrupt::typelevel::EXTI4>;
    EXTI9_5 => exti::InterruptHandler<interrupt::typelevel::EXTI9_5>;
    RNG => embassy_stm32::rng::InterruptHandler<embassy_stm32::peripherals::RNG>;
});

// ---------------------------------------------------------------- UARTs

/// A buffered serial port; with `de`, an RS-485 transceiver driven while sending.
pub struct Uart {
    inner: BufferedUart<'static>,
    de: Option<Output<'static>>,
}

impl Uart {
    pub fn set_baud(&mut self, baud: u32) {
        let _ = self.inner.set_baudrate(baud);
    }

    /// Drop whatever was received and not yet read.
    pub fn clear(&mut self) {
        let mut b = [0u8; 32];
        while let Ok(true) = embedded_io::ReadReady::read_ready(&mut self.inner) {
            if embedded_io::Read::read(&mut self.inner, &mut b).is_err() {
                break;
            }
        }
    }
}

impl embedded_io_async::ErrorType for Uart {
    type Error = embassy_stm32::usart::Error;
}

impl embedded_io_async::Read for Uart {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.inner.read(buf).await
    }
}

impl embedded_io_async::Write for Uart {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let Some(de) = self.de.as_mut() else {
            return self.inner.write(buf).await;
        };
        // RS-485: drive the line for the whole frame, release it once the last stop bit left.
        de.set_high();
        let r = async {
            embedded_io_async::Write::write_all(&mut self.inner, buf).await?;
            embedded_io_async::Write::flush(&mut self.inner).await
        }
        .await;
        de.set_low();
        r.map(|()| buf.len())
    }
    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush().await
    }
}

// ---------------------------------------------------------------- watchdog, reset reason

pub struct Watchdog(IndependentWatchdog<'static, IWDG>);

impl Watchdog {
    pub fn feed(&mut self) {
        self.0.pet();
    }
}

fn take_reset_reason() -> ResetReason {
    let csr = pac::RCC.csr().read();
    let r = if csr.wdgrstf() || csr.wwdgrstf() {
        ResetReason::Watchdog
    } else if csr.sftrstf() {
        ResetReason::Software
    } else if csr.borrstf() {
        ResetReason::Brownout
    } else if csr.porrstf() {
        ResetReason::PowerOn
    } else {
        ResetReason::Pin
    };
    pac::RCC.csr().modify(|w| w.set_rmvf(true));
    r
}

pub fn restart() -> ! {
    cortex_m::peripheral::SCB::sys_reset()
}

// ---------------------------------------------------------------- flash

const QUEUE_START: u32 = 128 * 1024; // sector 6, as an offset in sectors 5–11
pub const QUEUE_RANGE: core::ops::Range<u32> = QUEUE_START..QUEUE_START + 512 * 1024;
pub const CONFIG_RANGE: core::ops::Range<u32> = QUEUE_RANGE.end..QUEUE_RANGE.end + 256 * 1024;

static FLASH: Mutex<RefCell<Option<embassy_stm32::flash::Bank1Region3<'static, Blocking>>>> =
    Mutex::new(RefCell::new(None));

/// Sectors 5–11 (128 KiB each), shared by the configuration map and the offline queue.
pub struct Flash;

impl FlashErrorType for Flash {
    type Error = FlashError;
}

fn with_region<R>(
    f: impl FnOnce(
        &mut embassy_stm32::flash::Bank1Region3<'static, Blocking>,
    ) -> Result<R, embassy_stm32::flash::Error>,
) -> Result<R, FlashError> {
    critical_section::with(|cs| match FLASH.borrow(cs).borrow_mut().as_mut() {
        Some(r) => {
            f(r).map_err(|e| FlashError(embedded_storage::nor_flash::NorFlashError::kind(&e)))
        }
        None => Err(FlashError(NorFlashErrorKind::Other)),
    })
}

impl ReadNorFlash for Flash {
    const READ_SIZE: usize = 1;
    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        with_region(|r| r.read(offset, bytes))
    }
    fn capacity(&self) -> usize {
        7 * 128 * 1024
    }
}

impl NorFlash for Flash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 128 * 1024;
    // Programming and erasing stall the CPU (flash busy); an erase of a 128 KiB sector takes
    // 1–2 s, so it happens only when a page of the queue or the map fills.
    async fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        with_region(|r| r.erase(from, to))
    }
    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        with_region(|r| r.write(offset, bytes))
    }
}

// The F407's flash has no ECC: a programmed word may be programmed again to clear more bits,
// which sequential-storage uses to mark items as taken from the queue.
impl MultiwriteNorFlash for Flash {}

// ---------------------------------------------------------------- the board

/// The module's power key (PWRKEY, active high through a transistor).
pub struct ModemPower(Output<'static>);

impl ModemPower {
    /// Quectel EC800N: PWRKEY held 0.7 s switches the module off; again, on.
    pub async fn cycle(&mut self) {
        for _ in 0..2 {
            self.0.set_high();
            embassy_time::Timer::after_millis(700).await;
            self.0.set_low();
            embassy_time::Timer::after_secs(3).await;
        }
    }
}

/// I2C1 (PB6 SCL, PB7 SDA, 100 kHz) for the SHT4x.
pub type I2c =
    embassy_stm32::i2c::I2c<'static, embassy_stm32::mode::Blocking, embassy_stm32::i2c::Master>;

fn uart_config(baud: u32) -> UartConfig {
    let mut c = UartConfig::default();
    c.baudrate = baud;
    c
}

/// Bring the board up: clocks (168 MHz; I2S 76.8 MHz; RTC on the LSE crystal), ports,
/// timebase, flash, watchdog (`watchdog_ms`), and the inputs and outputs of `kind`.
pub fn init(kind: Kind, sensor_baud: u32, watchdog_ms: u32) -> Board {
    let reset = take_reset_reason();
    let mut config = embassy_stm32::Config::default();
    {
        use embassy_stm32::rcc::*;
        config.rcc.hse = Some(Hse {
            freq: Hertz(8_000_000),
            mode: HseMode::Oscillator,
        });
        config.rcc.pll_src = PllSource::HSE;
        config.rcc.pll = Some(Pll {
            prediv: PllPreDiv::DIV4,
            mul: PllMul::MUL168,
            divp: Some(PllPDiv::DIV2),
            divq: Some(PllQDiv::DIV7),
            divr: None,
        });
        config.rcc.ahb_pre = AHBPrescaler::DIV1;
        config.rcc.apb1_pre = APBPrescaler::DIV4;
        config.rcc.apb2_pre = APBPrescaler::DIV2;
        config.rcc.sys = Sysclk::PLL1_P;
        // I2S clock: 2 MHz × 192 / 5 = 76.8 MHz = 48 kHz × 64 bits × 25 exactly.
        config.rcc.plli2s = Some(Pll {
            prediv: PllPreDiv::DIV4,
            mul: PllMul::MUL192,
            divp: None,
            divq: None,
            divr: Some(PllRDiv::DIV5),
        });
        config.rcc.ls = LsConfig::default_lse();
    }
    let p = embassy_stm32::init(config);
    let mut wd = IndependentWatchdog::new(p.IWDG, watchdog_ms * 1000);
    wd.unleash();
    let region = Stm32Flash::new_blocking(p.FLASH)
        .into_blocking_regions()
        .bank1_region3;
    critical_section::with(|cs| *FLASH.borrow(cs).borrow_mut() = Some(region));

    // One 512-byte transmit and receive buffer per port, each its own static.
    macro_rules! buffer {
        () => {
            match cortex_m::singleton!(: [u8; 512] = [0; 512]) {
                Some(b) => b,
                None => restart(),
            }
        };
    }
    let console = BufferedUart::new(
        p.USART1,
        p.PA10,
        p.PA9,
        buffer!(),
        buffer!(),
        Irqs,
        uart_config(115_200),
    );
    let modem = BufferedUart::new(
        p.USART2,
        p.PA3,
        p.PA2,
        buffer!(),
        buffer!(),
        Irqs,
        uart_config(115_200),
    );
    let sensor = BufferedUart::new(
        p.USART3,
        p.PB11,
        p.PB10,
        buffer!(),
        buffer!(),
        Irqs,
        uart_config(sensor_baud),
    );
    let bus = BufferedUart::new(
        p.USART6,
        p.PC7,
        p.PC6,
        buffer!(),
        buffer!(),
        Irqs,
        uart_config(9600),
    );
    let (Ok(console), Ok(modem), Ok(sensor), Ok(bus)) = (console, modem, sensor, bus) else {
        restart()
    };
    let mut i2c_config = embassy_stm32::i2c::Config::default();
    i2c_config.frequency = Hertz(100_000);
    let climate = I2c::new_blocking(p.I2C1, p.PB6, p.PB7, i2c_config);
    super::stm32f407_io::rng_init(embassy_stm32::rng::Rng::new(p.RNG, Irqs));
    let (rtc, provider) =
        embassy_stm32::rtc::Rtc::new(p.RTC, embassy_stm32::rtc::RtcConfig::default());
    let (mut toilet, mut lamp, mut mic) = (None, None, None);
    match kind {
        Kind::Toilet => {
            use embassy_stm32::gpio::Pull::Down;
            adc_init(p.ADC1);
            toilet = Some(ToiletIo {
                inputs: ToiletInputs {
                    stalls: [
                        ExtiInput::new(p.PD0, p.EXTI0, Down, Irqs),
                        ExtiInput::new(p.PD1, p.EXTI1, Down, Irqs),
                        ExtiInput::new(p.PD2, p.EXTI2, Down, Irqs),
                        ExtiInput::new(p.PD3, p.EXTI3, Down, Irqs),
                        ExtiInput::new(p.PD4, p.EXTI4, Down, Irqs),
                        ExtiInput::new(p.PD5, p.EXTI5, Down, Irqs),
                        ExtiInput::new(p.PD6, p.EXTI6, Down, Irqs),
                        ExtiInput::new(p.PD7, p.EXTI7, Down, Irqs),
                    ],
                    beam: ExtiInput::new(p.PD8, p.EXTI8, Down, Irqs),
                    open: ExtiInput::new(p.PD9, p.EXTI9, Down, Irqs),
                },
                nh3: AdcInput::new(p.PA0.degrade_adc()),
                h2s: AdcInput::new(p.PA1.degrade_adc()),
            });
        }
        Kind::Streetlight => {
            use embassy_stm32::timer::simple_pwm::{PwmPin, SimplePwm};
            adc_init(p.ADC1);
            let pwm = SimplePwm::new(
                p.TIM3,
                Some(PwmPin::new(p.PA6, super::stm32f407_io::PWM_OUTPUT)),
                None,
                None,
                None,
                super::stm32f407_io::PWM_HZ,
                Default::default(),
            );
            let mut dimmer = pwm.split().ch1;
            dimmer.enable();
            lamp = Some(LampIo {
                relay: Output::new(p.PC0, Level::Low, Speed::Low),
                dimmer,
                meter: LampMeter {
                    voltage: AdcInput::new(p.PA4.degrade_adc()),
                    current: AdcInput::new(p.PA5.degrade_adc()),
                },
            });
        }
        Kind::Noise => {
            mic = Some(MicPins {
                spi: p.SPI2,
                sd: p.PB15,
                ws: p.PB12,
                ck: p.PB13,
                dma: p.DMA1_CH3,
            });
        }
        Kind::Air => {}
    }
    Board {
        rtc: Some(Rtc(rtc, provider)),
        toilet,
        lamp,
        mic,
        climate: Some(climate),
        console: Uart {
            inner: console,
            de: None,
        },
        modem: Uart {
            inner: modem,
            de: None,
        },
        sensor: Uart {
            inner: sensor,
            de: Some(Output::new(p.PB14, Level::Low, Speed::Medium)),
        },
        bus: Uart {
            inner: bus,
            de: Some(Output::new(p.PC8, Level::Low, Speed::Medium)),
        },
        config_flash: Flash,
        queue_flash: Flash,
        watchdog: Watchdog(wd),
        reset,
        modem_power: ModemPower(Output::new(p.PB0, Level::Low, Speed::Low)),
    }
}
