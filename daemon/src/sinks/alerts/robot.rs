//! Chat group robots of Chinese city platforms: WeCom (企业微信) and DingTalk (钉钉).
//!
//! Both take a markdown message, answer HTTP 200 with `{"errcode":0,"errmsg":"ok"}` when they
//! accept it, and another `errcode` (still HTTP 200) when they do not — counted as a failed
//! delivery and retried like any channel.
//! - WeCom: `POST …/cgi-bin/webhook/send?key=…` with
//!   `{"msgtype":"markdown","markdown":{"content":…}}` (content at most 4,096 bytes).
//! - DingTalk: `POST …/robot/send?access_token=…` with
//!   `{"msgtype":"markdown","markdown":{"title":…,"text":…},"at":{"atMobiles":[…]}}`; with a
//!   signing secret (加签) the URL also carries `timestamp` (ms) and
//!   `sign` = Base64(HMAC-SHA256(secret, "{timestamp}\n{secret}")), URL-encoded.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::{ChannelError, DeliveryError};
use crate::config::alerts::RobotConfig;
use crate::config::resolve_secret;
use crate::event::Alert;
use crate::transforms::alert::text;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    WeCom,
    DingTalk,
}

pub struct Robot {
    flavour: Flavour,
    url: String,
    secret: Option<String>,
    at_mobiles: Vec<String>,
    http: reqwest::Client,
}

/// WeCom's limit on a markdown message's content.
const WECOM_MAX_BYTES: usize = 4096;

/// DingTalk's `sign` for `timestamp_ms` (before URL encoding).
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn severity_zh(s: &str) -> &str {
    match s {
        "critical" => "严重",
        "warning" => "警告",
        "info" => "提示",
        other => other,
    }
}

fn kind_zh(k: &str) -> &str {
    match k {
        "noise" => "噪声监测点",
        "air" => "空气质量监测站",
        "toilet" => "智慧公厕",
        "streetlight" => "路灯",
        other => other,
    }
}

/// "2026-12-01T05:40:55+08:00" → "2026-12-01 05:40:55" (the gateway's local time).
fn local(t: &str) -> String {
    t.get(..19).unwrap_or(t).replace('T', " ")
}

/// (title, markdown) of an alert, in Chinese, for a duty officer's phone.
pub fn markdown(a: &Alert) -> (String, String) {
    let firing = a.state == "firing";
    let title = a.summary_zh.split('：').next().unwrap_or(&a.summary_zh);
    let tag = match (a.rule.as_str(), firing) {
        ("backfill", _) => "历史",
        (_, true) => "告警",
        (_, false) => "恢复",
    };
    let title = format!("【{tag}】{title}");
    let c = &a.context;
    let mut t = format!("### {title}\n\n{}\n\n", a.summary_zh);
    let mut line = |k: &str, v: String| t.push_str(&format!("> {k}：{v}\n>\n"));
    line("级别", severity_zh(&a.severity).to_string());
    if let Some(d) = &a.device {
        let mut what = vec![format!("{}/{d}", a.site)];
        what.extend(c.kind.as_deref().map(|k| kind_zh(k).to_string()));
        what.extend(c.class.as_ref().map(|k| match c.kind.as_deref() {
            Some("noise") => format!("{k}类声环境功能区"),
            _ => k.clone(),
        }));
        let name = c.device_name.as_deref().unwrap_or(d);
        line("设备", format!("{name}（{}）", what.join("，")));
    } else {
        line("站点", a.site.clone());
    }
    let unit = text::metric_names(&a.metric).2.trim();
    if let Some(v) = a.value {
        let mut s = format!("{} {unit}", text::num(v));
        if let Some(th) = a.threshold {
            s.push_str(&format!("（阈值 {} {unit}）", text::num(th)));
        }
        line("数值", s.trim().to_string());
    }
    line("开始", local(&a.starts_at));
    if let Some(e) = &a.ends_at {
        line("结束", local(e));
    }
    if let Some(l) = c.location {
        line(
            "位置",
            format!(
                "[{:.6}, {:.6}](https://uri.amap.com/marker?position={},{})（GCJ-02，点开看地图）",
                l.lat_gcj02, l.lon_gcj02, l.lon_gcj02, l.lat_gcj02
            ),
        );
    }
    if let Some(k) = &c.case {
        line(
            "案件类别",
            format!("{} {} {}", k.class, k.code, k.name)
                .trim()
                .to_string(),
        );
    }
    if let Some(u) = &c.url {
        t.push_str(&format!("\n[查看设备页面]({u})\n"));
    }
    (title, t)
}

/// Cut `s` to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Robot {
    pub fn new(flavour: Flavour, c: &RobotConfig) -> Result<Robot, ChannelError> {
        let what = match flavour {
            Flavour::WeCom => "wecom",
            Flavour::DingTalk => "dingtalk",
        };
        let secret =
            resolve_secret(c.secret.as_ref(), c.secret_file.as_deref()).map_err(|source| {
                ChannelError::Secret {
                    what: "robot secret_file",
                    source,
                }
            })?;
        Ok(Robot {
            flavour,
            url: c.url.to_string_unredacted(),
            secret,
            at_mobiles: c.at_mobiles.clone(),
            http: super::http_client(what, c.timeout_ms, c.ca_file.as_deref())?,
        })
    }

    pub fn kind(&self) -> &'static str {
        match self.flavour {
            Flavour::WeCom => "wecom",
            Flavour::DingTalk => "dingtalk",
        }
    }

    pub async fn deliver(&mut self, a: &Alert) -> Result<(), DeliveryError> {
        let (title, text) = markdown(a);
        let body = match self.flavour {
            Flavour::WeCom => {
                json!({"msgtype": "markdown", "markdown": {"content": cut(&text, WECOM_MAX_BYTES)}})
            }
            Flavour::DingTalk => json!({
                "msgtype": "markdown",
                "markdown": {"title": title, "text": text},
                "at": {"atMobiles": self.at_mobiles, "isAtAll": false},
            }),
        };
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body)?);
        if let (Flavour::DingTalk, Some(secret)) = (self.flavour, &self.secret) {
            let ts = jiff::Timestamp::now().as_millisecond();
            req = req.query(&[
                ("timestamp", ts.to_string()),
                ("sign", dingtalk_sign(secret, ts)),
            ]);
        }
        let url = || crate::redact::url(&self.url);
        let resp = req
            .send()
            .await
            .map_err(|source| DeliveryError::Http { url: url(), source })?;
        let status = resp.status().as_u16();
        let answer = resp.bytes().await.unwrap_or_default();
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&answer).ok();
        let errcode = parsed.as_ref().and_then(|v| v["errcode"].as_i64());
        if (200..300).contains(&status) && errcode == Some(0) {
            return Ok(());
        }
        Err(DeliveryError::Refused {
            url: url(),
            status,
            body: match &parsed {
                Some(v) => format!("errcode {} {}", v["errcode"], v["errmsg"]),
                None => String::from_utf8_lossy(cut_bytes(&answer, 200)).into_owned(),
            },
        })
    }
}

fn cut_bytes(b: &[u8], max: usize) -> &[u8] {
    &b[..b.len().min(max)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dingtalk_sign_matches_an_independent_computation() {
        // printf '1700000000000\nSECabc' | openssl dgst -sha256 -hmac SECabc -binary | base64
        assert_eq!(
            dingtalk_sign("SECabc", 1_700_000_000_000),
            "jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM="
        );
    }

    #[test]
    fn markdown_names_the_device_value_place_and_case() {
        let a = Alert {
            v: 1,
            id: "loud:town/n1".into(),
            rule: "loud".into(),
            severity: "warning".into(),
            state: "firing".into(),
            site: "town".into(),
            device: Some("n1".into()),
            metric: "laeq".into(),
            value: Some(75.0),
            threshold: Some(70.0),
            starts_at: "2026-12-01T05:40:55+08:00".into(),
            ends_at: None,
            summary_zh: "等效声级超标：town/n1 等效声级 75 dB(A)，超过阈值 70 dB(A)。".into(),
            summary_en: String::new(),
            context: crate::event::AlertContext {
                device_name: Some("东门".into()),
                kind: Some("noise".into()),
                class: Some("2".into()),
                location: Some(crate::event::Location::from_wgs84(39.915, 116.404)),
                url: Some("http://gw/#/device/town/n1".into()),
                case: Some(crate::event::CaseCategory {
                    class: "事件".into(),
                    code: "0105".into(),
                    name: "噪声扰民".into(),
                }),
            },
        };
        let (title, md) = markdown(&a);
        assert_eq!(title, "【告警】等效声级超标");
        for want in [
            "> 设备：东门（town/n1，噪声监测点，2类声环境功能区）",
            "> 数值：75 dB(A)（阈值 70 dB(A)）",
            "> 开始：2026-12-01 05:40:55",
            "position=116.410244,39.916404",
            "> 案件类别：事件 0105 噪声扰民",
            "[查看设备页面](http://gw/#/device/town/n1)",
        ] {
            assert!(md.contains(want), "{want:?} not in\n{md}");
        }
        assert_eq!(cut("东门东门", 7), "东门");
    }
}
