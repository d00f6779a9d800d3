//! Meili firmware library: `#![no_std]`, no allocator.
//!
//! # Layout
//! - [`payload`]: the wire format of CONTRACT §2 (reading and status objects, JSON encode/decode
//!   into fixed buffers, the physical ranges a reading must respect). The daemon depends on this
//!   module so that there is exactly one definition of what a device sends.
//! - [`drivers`]: sensors (PMS5003 particulates over UART, SHT4x temperature/humidity over I2C).
//! - [`modbus`]: the RS-485 Modbus RTU slave and the devices' register maps.
//! - [`sun`]: sunrise/sunset, the streetlight's astronomical clock (the daemon uses it too).
//! - [`mqtt`]: a small MQTT 3.1.1 client over `embedded-io` (QoS 1, will, `cmd` subscription).
//! - [`config`]: the device's configuration record (flash, console, `meilid device provision`).
//! - [`app`]: device-application pieces (offline ring buffer, toilet stalls and entry beam,
//!   streetlight faults).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

pub mod app;
pub mod config;
pub mod drivers;
pub mod modbus;
pub mod mqtt;
pub mod payload;
pub mod sun;

pub use payload::{Fault, Kind, Reading, Status};
/// The I/O traits the drivers and the MQTT client are generic over.
pub use {embedded_hal, embedded_io};
