//! InfluxDB writers: the 2.x API through the `influxdb2` crate (InfluxDB 2.x/3.x/Cloud,
//! VictoriaMetrics) and the 1.x `/write` API (InfluxDB 1.x and compatible databases).

mod v1;
mod v2;

pub use v1::V1Writer;
pub use v2::V2Writer;

use super::WriteError;

/// 5xx, 408 and 429 are worth retrying; other 4xx mean the data itself was refused.
fn classify(status: u16, text: &str) -> WriteError {
    let msg = format!("HTTP {status}: {}", text.trim());
    if status >= 500 || status == 408 || status == 429 {
        WriteError::Retryable(msg)
    } else {
        WriteError::Permanent(msg)
    }
}
