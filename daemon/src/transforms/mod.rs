//! Transforms between sources and sinks: `validate` (decode + check, synchronous core and a thin
//! task around it), `live` (the latest state of every device, for the web page and the demo)
//! `aggregate` (the standards engine: daily results and compliance ratios), `alert`, and
//! `pending` (devices that publish but are not declared yet).

pub mod aggregate;
pub mod alert;
pub mod live;
pub mod pending;
pub mod validate;

pub use live::Live;
pub use validate::Validator;
