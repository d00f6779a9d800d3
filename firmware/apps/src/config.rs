//! The device configuration lives in the shared library (`meili_firmware::config`), so the
//! gateway's `meilid device provision` writes exactly what the device reads.

pub use meili_firmware::config::*;
