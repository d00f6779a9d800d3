//! HTTP webhook: the CONTRACT §6 object as a JSON POST, signed with HMAC-SHA256 over the raw
//! body in `X-Meili-Signature: sha256=<hex>` when a secret is configured.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{ChannelError, DeliveryError};
use crate::config::alerts::WebhookConfig;
use crate::config::resolve_secret;
use crate::event::Alert;

pub struct Webhook {
    url: String,
    secret: Option<String>,
    http: reqwest::Client,
}

/// `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256=");
    for b in tag {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

impl Webhook {
    pub fn new(c: &WebhookConfig) -> Result<Webhook, ChannelError> {
        let secret =
            resolve_secret(c.secret.as_ref(), c.secret_file.as_deref()).map_err(|source| {
                ChannelError::Secret {
                    what: "webhook secret_file",
                    source,
                }
            })?;
        let http = super::http_client("webhook", c.timeout_ms, c.ca_file.as_deref())?;
        Ok(Webhook {
            url: c.url.to_string_unredacted(),
            secret,
            http,
        })
    }

    pub async fn deliver(&mut self, a: &Alert) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(a)?;
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-meili-alert-id", &a.id);
        if let Some(s) = &self.secret {
            req = req.header("x-meili-signature", signature(s, &body));
        }
        let url = || crate::redact::url(&self.url);
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|source| DeliveryError::Http { url: url(), source })?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Refused {
                url: url(),
                status: resp.status().as_u16(),
                body: String::new(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_rfc_4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            super::signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
