//! The standards' arithmetic, one plain synchronous module per standard, readable against its
//! text (see `docs/standards.md`). No I/O, no clocks: the stateful engine in
//! [`crate::transforms::aggregate`] calls these.

pub mod air;
pub mod aqi;
pub mod classes;
pub mod clock;
pub mod lighting;
pub mod noise;
pub mod ratio;
pub mod sun;
pub mod toilet;
