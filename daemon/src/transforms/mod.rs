//! Transforms between sources and sinks: `validate` (decode + check, synchronous core and a thin
//! task around it), `live` (the latest state of every device, for the web page and the demo)
//! and `aggregate` (the standards engine: daily results and compliance ratios).

pub mod aggregate;
pub mod alert;
pub mod live;
pub mod validate;

pub use live::Live;
pub use validate::Validator;
