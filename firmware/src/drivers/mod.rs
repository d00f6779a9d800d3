//! Sensor drivers, generic over embedded-hal 1.0 / embedded-io traits. Each takes its bus by
//! value (`new`) and gives it back (`release`); errors keep the bus's own errors apart from
//! protocol errors (bad checksum, no frame).

pub mod pms5003;
pub mod sht4x;
pub mod sound;
