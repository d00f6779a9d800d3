//! Sensor drivers, generic over embedded-hal 1.0 / embedded-io traits. Each takes its bus by
//! value (`new`) and gives it back (`release`); errors keep the bus's own errors apart from
//! protocol errors (bad checksum, no frame).
//!
//! - `pms5003`: particulates over UART; `sht4x`: temperature/humidity over I2C;
//! - `sound`: A-weighted level meter for I2S microphone samples; `noise_x10`: the RS-485
//!   Modbus noise transmitter as alternative hardware;
//! - `gas`: NH3/H2S electrochemical cells through an ADC (local `AdcChannel` trait);
//! - `quectel`: the 4G module's AT answers (the async modem driver is in `apps/src/modem.rs`).

pub mod gas;
pub mod noise_x10;
pub mod pms5003;
pub mod quectel;
pub mod sht4x;
pub mod sound;
