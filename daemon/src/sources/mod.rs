//! Sources: where readings enter the pipeline. Each sends [`crate::event::RawMessage`]s into
//! the bounded ingest queue and stops when the shutdown token is cancelled.
//!
//! - `mqtt`: devices that publish (rumqttc).
//! - `modbus`: devices that are polled (tokio-modbus, TCP and RTU), one scheduler per bus;
//!   their readings enter as the same JSON payloads on the same topics.
//! - `internal`: the daemon's own health rows, appended straight to the buffer.

pub mod internal;
pub mod modbus;
pub mod mqtt;

pub use mqtt::MqttSource;
