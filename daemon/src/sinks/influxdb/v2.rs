//! InfluxDB 2.x `/api/v2/write` through the `influxdb2` crate.

use std::time::Duration;

use bytes::Bytes;
use influxdb2::api::write::TimestampPrecision;
use influxdb2::RequestError;

use super::classify;
use crate::config::{resolve_secret, InfluxdbV2Config};
use crate::sinks::{Unavailable, WriteError};

pub struct V2Writer {
    client: influxdb2::Client,
    org: String,
    bucket: String,
    timeout: Duration,
}

impl V2Writer {
    pub fn new(c: &InfluxdbV2Config) -> Result<V2Writer, super::BuildError> {
        use super::BuildError;
        // `influxdb2::Client::new` panics on a bad URL: check it first.
        let url = reqwest::Url::parse(&c.url).map_err(|source| BuildError::Url {
            url: crate::redact::url(&c.url),
            source,
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(BuildError::Scheme(crate::redact::url(&c.url)));
        }
        let token = match &c.token_env {
            Some(var) if c.token.is_none() && c.token_file.is_none() => {
                std::env::var(var).map_err(|_| BuildError::TokenEnv(var.clone()))?
            }
            _ => resolve_secret(c.token.as_ref(), c.token_file.as_deref())
                .map_err(|source| BuildError::Secret {
                    key: "token_file",
                    source,
                })?
                .unwrap_or_default(),
        };
        Ok(V2Writer {
            client: influxdb2::Client::new(c.url.trim_end_matches('/'), &c.org, token),
            org: c.org.clone(),
            bucket: c.bucket.clone(),
            timeout: Duration::from_millis(c.batch.request_timeout_ms),
        })
    }

    pub async fn write(&mut self, body: &[u8]) -> Result<(), WriteError> {
        let fut = self.client.write_line_protocol_with_precision(
            &self.org,
            &self.bucket,
            Bytes::copy_from_slice(body),
            TimestampPrecision::Seconds,
        );
        match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Err(Unavailable::Timeout(self.timeout).into()),
            Ok(Ok(())) => Ok(()),
            Ok(Err(RequestError::Http { status, text })) => Err(classify(status.as_u16(), &text)),
            Ok(Err(e)) => Err(Unavailable::Client(crate::redact::text(&e.to_string())).into()),
        }
    }
}
