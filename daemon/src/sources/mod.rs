//! Sources: where readings enter the pipeline. Each sends [`crate::event::RawMessage`]s into
//! the bounded ingest queue and stops when the shutdown token is cancelled.

pub mod mqtt;

pub use mqtt::MqttSource;
