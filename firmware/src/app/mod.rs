//! Device application building blocks: the offline ring buffer, toilet inputs, streetlight
//! fault logic, noise calibration.

pub mod calibration;
pub mod offline;
pub mod streetlight;
pub mod toilet;
