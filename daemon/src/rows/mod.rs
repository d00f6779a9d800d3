//! The pipeline's record format: each reading as one InfluxDB line-protocol row. Validation
//! writes them into the buffer ([`line_protocol::encode`]); the sinks send them, by default without
//! `seq` and `period_s` ([`line_protocol::strip_seq_period`]);
//! the standards engine, the alert evaluator and `replay` read them back ([`Sample`]).

pub mod line_protocol;
pub mod names;
pub mod sample;

pub use sample::{Sample, Values};
