//! Meili device images: one application per kind (`src/bin/`) on one board (`src/board/`).
//!
//! - `board/`: the only board-specific code (emulated `qemu_an386`, product `stm32f407`);
//! - `station`: what every image runs besides its sensor: configuration, console, network
//!   task, offline queue, watchdog supervisor;
//! - `modem` (Quectel AT) behind `net::Socket`; `tls`: TLS 1.3 over it; `session`: the MQTT
//!   session over either;
//! - `rtu`: the Modbus RTU slave on the field bus, for gateways that poll;
//! - `store`: flash (configuration map, offline queue); `config`; `console`;
#![no_std]

pub mod board;
pub mod config;
pub mod console;
pub mod executor;
pub mod modem;
pub mod net;
pub mod rtu;
pub mod session;
pub mod stack;
pub mod station;
pub mod store;
pub mod tls;

/// Halt on panic: the watchdog restarts the device.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
