//! Prometheus Alertmanager v2 API (`POST /api/v2/alerts`): labels `alertname` (the rule),
//! `severity`, `site`, `device`, `metric`, `alert_id`; annotations `summary` (English),
//! `summary_zh`, `value`, `threshold`, and where known `device_name`, `kind`, `class`,
//! `location` ("lat,lon" WGS-84), `location_gcj02`, `url`, `case` ("class code name"). Firing alerts carry `endsAt` 4 resend intervals ahead
//! and are re-posted every interval; a resolution carries its real `endsAt`.

use std::time::Duration;

use serde_json::json;

use super::{ChannelError, DeliveryError};
use crate::config::alerts::AlertmanagerConfig;
use crate::event::Alert;

pub struct Alertmanager {
    url: String,
    generator: String,
    pub resend: Duration,
    http: reqwest::Client,
}

impl Alertmanager {
    pub fn new(c: &AlertmanagerConfig, generator: String) -> Result<Alertmanager, ChannelError> {
        let http = super::http_client("alertmanager", c.timeout_ms, c.ca_file.as_deref())?;
        Ok(Alertmanager {
            url: format!("{}/api/v2/alerts", c.url.trim_end_matches('/')),
            generator,
            resend: Duration::from_secs(c.resend_secs.max(1)),
            http,
        })
    }

    fn body(&self, a: &Alert) -> serde_json::Value {
        let mut labels = json!({
            "alertname": a.rule,
            "severity": a.severity,
            "site": a.site,
            "metric": a.metric,
            "alert_id": a.id,
        });
        if let Some(d) = &a.device {
            labels["device"] = json!(d);
        }
        let mut annotations = json!({"summary": a.summary_en, "summary_zh": a.summary_zh});
        if let Some(v) = a.value {
            annotations["value"] = json!(crate::transforms::alert::text::num(v));
        }
        if let Some(t) = a.threshold {
            annotations["threshold"] = json!(crate::transforms::alert::text::num(t));
        }
        let c = &a.context;
        for (k, v) in [
            ("device_name", c.device_name.clone()),
            ("kind", c.kind.clone()),
            ("class", c.class.clone()),
            (
                "location",
                c.location.map(|l| format!("{},{}", l.lat, l.lon)),
            ),
            (
                "location_gcj02",
                c.location
                    .map(|l| format!("{},{}", l.lat_gcj02, l.lon_gcj02)),
            ),
            ("url", c.url.clone()),
            (
                "case",
                c.case.as_ref().map(|k| {
                    format!("{} {} {}", k.class, k.code, k.name)
                        .trim()
                        .to_string()
                }),
            ),
        ] {
            if let Some(v) = v {
                annotations[k] = json!(v);
            }
        }
        let ends = match &a.ends_at {
            Some(e) => e.clone(),
            None => {
                let ahead = jiff::SignedDuration::from_secs(4 * self.resend.as_secs() as i64);
                jiff::Timestamp::now()
                    .checked_add(ahead)
                    .unwrap_or(jiff::Timestamp::MAX)
                    .to_string()
            }
        };
        json!({
            "labels": labels,
            "annotations": annotations,
            "startsAt": a.starts_at,
            "endsAt": ends,
            "generatorURL": self.generator,
        })
    }

    pub async fn post(&self, alerts: &[Alert]) -> Result<(), DeliveryError> {
        let body: Vec<_> = alerts.iter().map(|a| self.body(a)).collect();
        let resp = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap_or_default())
            .send()
            .await
            .map_err(|source| DeliveryError::Http {
                url: crate::redact::url(&self.url),
                source,
            })?;
        if resp.status().is_success() {
            Ok(())
        } else {
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            Err(DeliveryError::Refused {
                url: crate::redact::url(&self.url),
                status,
                body: text.trim().to_string(),
            })
        }
    }

    pub async fn deliver(&mut self, a: &Alert) -> Result<(), DeliveryError> {
        self.post(std::slice::from_ref(a)).await
    }
}
