//! InfluxDB 1.x `/write?db=…&precision=s`.

use std::time::Duration;

use bytes::Bytes;

use super::classify;
use crate::config::{resolve_secret, InfluxdbV1Config};
use crate::sinks::WriteError;

pub struct V1Writer {
    http: reqwest::Client,
    write_url: reqwest::Url,
    query_url: reqwest::Url,
    database: String,
    auth: Option<(String, String)>,
    create_database: bool,
    /// `WITH DURATION … [NAME …]` of the `CREATE DATABASE` the writer issues.
    create_with: String,
}

impl V1Writer {
    pub fn new(c: &InfluxdbV1Config) -> Result<V1Writer, super::BuildError> {
        use super::BuildError;
        let bad_url = |source| BuildError::Url {
            url: crate::redact::url(&c.url),
            source,
        };
        let base = reqwest::Url::parse(&c.url).map_err(bad_url)?;
        let mut write_url = base.join("write").map_err(bad_url)?;
        write_url
            .query_pairs_mut()
            .append_pair("db", &c.database)
            .append_pair("precision", "s");
        if let Some(rp) = &c.retention_policy {
            write_url.query_pairs_mut().append_pair("rp", rp);
        }
        let query_url = base.join("query").map_err(bad_url)?;
        let password =
            resolve_secret(c.password.as_ref(), c.password_file.as_deref()).map_err(|source| {
                BuildError::Secret {
                    key: "password_file",
                    source,
                }
            })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(c.batch.request_timeout_ms))
            .build()
            .map_err(BuildError::Client)?;
        Ok(V1Writer {
            http,
            write_url,
            query_url,
            database: c.database.clone(),
            auth: c
                .username
                .clone()
                .map(|u| (u, password.unwrap_or_default())),
            create_database: c.create_database,
            create_with: create_with(c.retention_days, c.retention_policy.as_deref()),
        })
    }

    pub async fn write(&mut self, body: &[u8]) -> Result<(), WriteError> {
        let mut created = false;
        loop {
            let req = self
                .http
                .post(self.write_url.clone())
                .body(Bytes::copy_from_slice(body));
            let resp = self.send(req).await?;
            let status = resp.status().as_u16();
            if status == 204 || status == 200 {
                return Ok(());
            }
            let text = resp.text().await.unwrap_or_default();
            if status == 404
                && self.create_database
                && !created
                && text.contains("database not found")
            {
                self.create().await?;
                created = true;
                continue;
            }
            return Err(classify(status, &text));
        }
    }

    /// Send with the configured credentials; transport failures are retryable.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, WriteError> {
        let req = match &self.auth {
            Some((u, p)) => req.basic_auth(u, Some(p)),
            None => req,
        };
        req.send()
            .await
            .map_err(|e| WriteError::Unavailable(e.into()))
    }

    async fn create(&self) -> Result<(), WriteError> {
        let q = format!(
            "CREATE DATABASE \"{}\"{}",
            self.database.replace('"', "\\\""),
            self.create_with
        );
        let req = self
            .http
            .post(self.query_url.clone())
            .form(&[("q", q.as_str())]);
        let resp = self.send(req).await?;
        let status = resp.status().as_u16();
        if status / 100 != 2 {
            return Err(classify(status, &resp.text().await.unwrap_or_default()));
        }
        tracing::info!(database = %self.database, retention = %self.create_with, "Created InfluxDB database.");
        Ok(())
    }
}

/// The `WITH` clause for a new database: its default retention policy's duration and name.
fn create_with(days: Option<u32>, policy: Option<&str>) -> String {
    match (days, policy) {
        (None, _) => String::new(),
        (Some(d), None) => format!(" WITH DURATION {d}d"),
        (Some(d), Some(p)) => format!(" WITH DURATION {d}d NAME \"{}\"", p.replace('"', "\\\"")),
    }
}
