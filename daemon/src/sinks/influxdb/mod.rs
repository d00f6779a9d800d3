//! InfluxDB writers: the 2.x API through the `influxdb2` crate (InfluxDB 2.x/3.x/Cloud,
//! VictoriaMetrics) and the 1.x `/write` API (InfluxDB 1.x and compatible databases).

mod v1;
mod v2;

pub use v1::V1Writer;
pub use v2::V2Writer;

/// Why an InfluxDB writer cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The URL (shown redacted) does not parse.
    #[error("url {url}: {source}")]
    Url {
        url: String,
        source: url::ParseError,
    },
    #[error("url {0} is not http(s)")]
    Scheme(String),
    #[error("{key}: {source}")]
    Secret {
        key: &'static str,
        source: std::io::Error,
    },
    #[error("token_env: environment variable {0} is not set")]
    TokenEnv(String),
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

use super::WriteError;

/// What an HTTP answer means for the rows: 5xx, 408 and 429 are worth retrying as they are;
/// 413 splits the request; 400/422 naming the data (unparsable lines, a field type conflict)
/// splits it to isolate the refused rows, or counts them where the server says how many it
/// dropped; every other 4xx (401, 403, 404 …) is a configuration problem: hold and retry.
fn classify(status: u16, text: &str) -> WriteError {
    let answer = || super::Answer {
        status,
        body: text.trim().to_string(),
    };
    let about_data = [
        "unable to parse",
        "partial write",
        "field type conflict",
        "invalid field",
        "bad timestamp",
    ]
    .iter()
    .any(|k| text.contains(k));
    match status {
        500.. | 408 | 429 => WriteError::Unavailable(super::Unavailable::Server(answer())),
        413 => WriteError::TooLarge(answer()),
        400 | 422 if about_data => match super::dropped_count(text) {
            Some(dropped) => WriteError::Partial {
                dropped,
                answer: answer(),
            },
            None => WriteError::BadData(answer()),
        },
        _ => WriteError::Refused(answer()),
    }
}
