//! Alert lifecycle: active alerts (one per id, so no repeats while firing), recently resolved
//! ones, and a per-channel outbox of notifications not yet delivered. Saved with the
//! evaluator's state, so a restart neither repeats nor loses an alert.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::event::Alert;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Active {
    pub alert: Alert,
    /// The firing notification went out (it did not while silenced).
    pub notified: bool,
    pub silenced: bool,
    /// Gateway time (unix s) of the last notification, for reminders.
    pub last_sent_unix: i64,
    pub repeat_secs: i64,
    /// Raised from readings older than `alerts.max_age_mins` (a backlog after an outage): not
    /// notified; summarised once the backlog is in ([`Backfill`]).
    #[serde(default)]
    pub historical: bool,
}

/// Historical episodes waiting for their one summary notification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backfill {
    pub episodes: u64,
    pub first: String,
    pub last: String,
    pub sites: Vec<String>,
    /// Gateway time of the latest historical transition; the summary goes out after
    /// `alerts.backfill_quiet_secs` without one.
    pub touched_unix: i64,
}

/// Historical episodes listed by the API.
const EPISODES_KEPT: usize = 1000;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Store {
    pub active: BTreeMap<String, Active>,
    pub recent: VecDeque<Alert>,
    /// Channel name → notifications waiting, oldest first.
    pub outbox: BTreeMap<String, VecDeque<Alert>>,
    /// Silences added at runtime (`POST /api/v1/silences`), until they end.
    #[serde(default)]
    pub silences: Vec<crate::config::alerts::SilenceConfig>,
    /// Episodes raised and ended within a backlog, newest first (`GET /api/v1/alerts`).
    #[serde(default)]
    pub episodes: VecDeque<Alert>,
    #[serde(default)]
    pub backfill: Option<Backfill>,
    /// Active historical alerts (recounted after a restore).
    #[serde(skip)]
    pub historical_active: usize,
    /// `alerts.backfill_quiet_secs`.
    #[serde(skip)]
    pub backfill_quiet_secs: i64,
    #[serde(skip)]
    pub dropped: BTreeMap<String, u64>,
    #[serde(skip)]
    pub limits: (usize, usize),
    /// Firing and resolved transitions per (rule, state), for metrics.
    #[serde(skip)]
    pub transitions: BTreeMap<(String, &'static str), u64>,
}

impl Store {
    /// Keep outboxes for exactly these channels (a removed channel's queue is dropped, logged).
    pub fn set_channels(&mut self, names: &[String], outbox_max: usize, recent_kept: usize) {
        self.limits = (outbox_max.max(1), recent_kept);
        self.outbox.retain(|k, q| {
            let keep = names.contains(k);
            if !keep && !q.is_empty() {
                tracing::warn!(channel = %k, pending = q.len(), "Channel no longer configured; its undelivered alerts are dropped.");
            }
            keep
        });
        for n in names {
            self.outbox.entry(n.clone()).or_default();
        }
    }

    fn enqueue(&mut self, a: &Alert) {
        let max = self.limits.0;
        for (name, q) in &mut self.outbox {
            q.push_back(a.clone());
            while q.len() > max {
                if let Some(old) = q.pop_front() {
                    *self.dropped.entry(name.clone()).or_default() += 1;
                    tracing::error!(channel = %name, id = %old.id, state = %old.state, "Alert outbox full: oldest undelivered notification dropped.");
                }
            }
        }
    }

    pub fn is_active(&self, id: &str) -> bool {
        self.active.contains_key(id)
    }

    /// A new firing alert; ignored while the same id is active.
    pub fn fire(&mut self, alert: Alert, silenced: bool, repeat_secs: i64, now: i64) -> bool {
        if self.active.contains_key(&alert.id) {
            return false;
        }
        *self
            .transitions
            .entry((alert.rule.clone(), "firing"))
            .or_default() += 1;
        if !silenced {
            self.enqueue(&alert);
        }
        tracing::warn!(id = %alert.id, severity = %alert.severity, silenced, "{}", alert.summary_en);
        self.active.insert(
            alert.id.clone(),
            Active {
                alert,
                notified: !silenced,
                silenced,
                last_sent_unix: now,
                repeat_secs,
                historical: false,
            },
        );
        true
    }

    /// A firing alert found in readings older than `alerts.max_age_mins`: tracked, listed,
    /// not notified (one summary covers the backlog).
    pub fn fire_historical(&mut self, alert: Alert, repeat_secs: i64, now: i64) -> bool {
        if self.active.contains_key(&alert.id) {
            return false;
        }
        *self
            .transitions
            .entry((alert.rule.clone(), "firing"))
            .or_default() += 1;
        tracing::info!(id = %alert.id, starts_at = %alert.starts_at, "Historical alert in backfilled readings (not notified): {}", alert.summary_en);
        self.touch_backfill(&alert.site, &alert.starts_at, now);
        if let Some(b) = &mut self.backfill {
            b.episodes += 1;
        }
        self.historical_active += 1;
        self.active.insert(
            alert.id.clone(),
            Active {
                alert,
                notified: false,
                silenced: false,
                last_sent_unix: now,
                repeat_secs,
                historical: true,
            },
        );
        true
    }

    /// A historical alert whose condition still holds in a current reading: notified now.
    pub fn promote(&mut self, id: &str, silenced: bool, now: i64) -> bool {
        let Some(a) = self.active.get_mut(id).filter(|a| a.historical) else {
            return false;
        };
        a.historical = false;
        a.silenced = silenced;
        a.notified = !silenced;
        a.last_sent_unix = now;
        let alert = a.alert.clone();
        self.historical_active = self.historical_active.saturating_sub(1);
        if !silenced {
            self.enqueue(&alert);
        }
        true
    }

    fn touch_backfill(&mut self, site: &str, at: &str, now: i64) {
        let b = self.backfill.get_or_insert_with(|| Backfill {
            episodes: 0,
            first: at.to_string(),
            last: at.to_string(),
            sites: Vec::new(),
            touched_unix: now,
        });
        if at < b.first.as_str() {
            b.first = at.to_string();
        }
        if at > b.last.as_str() {
            b.last = at.to_string();
        }
        if !b.sites.iter().any(|s| s == site) {
            b.sites.push(site.to_string());
        }
        b.touched_unix = now;
    }

    /// Resolve an active alert; the resolution goes out if its firing did.
    pub fn resolve(&mut self, id: &str, ends_at: String, summary: (String, String)) -> bool {
        let Some(a) = self.active.remove(id) else {
            return false;
        };
        let mut alert = a.alert;
        alert.state = "resolved".into();
        alert.ends_at = Some(ends_at);
        (alert.summary_zh, alert.summary_en) = summary;
        *self
            .transitions
            .entry((alert.rule.clone(), "resolved"))
            .or_default() += 1;
        if a.historical {
            self.historical_active = self.historical_active.saturating_sub(1);
            let now = jiff::Timestamp::now().as_second();
            self.touch_backfill(&alert.site, alert.ends_at.as_deref().unwrap_or(""), now);
            self.episodes.push_front(alert);
            self.episodes.truncate(EPISODES_KEPT);
            return true;
        }
        tracing::info!(id = %alert.id, "{}", alert.summary_en);
        if a.notified {
            self.enqueue(&alert);
        }
        self.recent.push_front(alert);
        self.recent.truncate(self.limits.1);
        true
    }

    /// The backlog's summary, once it has been quiet for `alerts.backfill_quiet_secs`.
    fn backfill_summary(&mut self, now: i64) -> Option<Alert> {
        let b = self.backfill.as_ref()?;
        if now - b.touched_unix < self.backfill_quiet_secs {
            return None;
        }
        let b = self.backfill.take()?;
        if b.episodes == 0 {
            return None;
        }
        let site = match b.sites.as_slice() {
            [one] => one.clone(),
            _ => "gateway".into(),
        };
        let open = self.historical_active;
        let (first, last) = (
            b.first.get(..16).unwrap_or(&b.first).replace('T', " "),
            b.last.get(..16).unwrap_or(&b.last).replace('T', " "),
        );
        Some(Alert {
            v: 1,
            id: format!("backfill:{site}/{}", b.last),
            rule: "backfill".into(),
            severity: "info".into(),
            state: "resolved".into(),
            site: site.clone(),
            device: None,
            metric: "episodes".into(),
            value: Some(b.episodes as f64),
            threshold: None,
            starts_at: b.first.clone(),
            ends_at: Some(b.last.clone()),
            summary_zh: format!(
                "补传数据中的历史告警：{site} 在 {first} 至 {last} 之间共 {} 起{}；为免刷屏未逐条推送，明细见网关告警历史。",
                b.episodes,
                if open > 0 { format!("（{open} 起到补传数据末尾仍未结束，若实时数据中仍超标将另行告警）") } else { String::new() }
            ),
            summary_en: format!(
                "Historical alerts in backfilled data: {} episodes at {site} between {first} and {last}{}; not sent one by one — see the gateway's alert history.",
                b.episodes,
                if open > 0 { format!(" ({open} still open at the end of the backlog: alerted if current readings confirm them)") } else { String::new() }
            ),
            context: Default::default(),
        })
    }

    /// Silences that started or ended, and reminders; returns whether anything changed.
    pub fn tick(&mut self, now: i64, silenced: impl Fn(&Alert) -> bool) -> bool {
        let mut out = Vec::new();
        let mut changed = false;
        for a in self.active.values_mut().filter(|a| !a.historical) {
            let s = silenced(&a.alert);
            changed |= s != a.silenced;
            a.silenced = s;
            let reminder = a.repeat_secs > 0 && now - a.last_sent_unix >= a.repeat_secs;
            if !s && (!a.notified || reminder) {
                a.notified = true;
                a.last_sent_unix = now;
                out.push(a.alert.clone());
            }
        }
        if let Some(summary) = self.backfill_summary(now) {
            tracing::info!(id = %summary.id, "{}", summary.summary_en);
            self.recent.push_front(summary.clone());
            self.recent.truncate(self.limits.1);
            out.push(summary);
        }
        changed |= !out.is_empty();
        for a in &out {
            self.enqueue(a);
        }
        changed
    }

    pub fn front(&self, channel: &str) -> Option<&Alert> {
        self.outbox.get(channel)?.front()
    }

    /// The channel delivered its oldest notification.
    pub fn delivered(&mut self, channel: &str) {
        if let Some(q) = self.outbox.get_mut(channel) {
            q.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(id: &str) -> Alert {
        Alert {
            v: 1,
            id: id.into(),
            rule: "r".into(),
            severity: "warning".into(),
            state: "firing".into(),
            site: "town".into(),
            device: Some("n01".into()),
            metric: "laeq".into(),
            value: Some(60.0),
            threshold: Some(45.0),
            starts_at: "2026-11-23T22:00:00+08:00".into(),
            ends_at: None,
            summary_zh: String::new(),
            summary_en: String::new(),
            context: Default::default(),
        }
    }

    fn store() -> Store {
        let mut s = Store::default();
        s.set_channels(&["a".into(), "b".into()], 2, 10);
        s
    }

    #[test]
    fn fires_once_and_resolves_once_on_every_channel() {
        let mut s = store();
        assert!(s.fire(alert("x"), false, 0, 0));
        assert!(!s.fire(alert("x"), false, 0, 1), "no repeat while firing");
        assert!(s.resolve("x", "t".into(), Default::default()));
        assert!(!s.resolve("x", "t".into(), Default::default()));
        for ch in ["a", "b"] {
            let q: Vec<_> = s.outbox[ch].iter().map(|a| a.state.as_str()).collect();
            assert_eq!(q, ["firing", "resolved"]);
        }
        assert_eq!(s.recent.len(), 1);
    }

    #[test]
    fn silenced_alert_is_not_sent_unless_it_outlives_the_silence() {
        let mut s = store();
        s.fire(alert("x"), true, 0, 0);
        s.resolve("x", "t".into(), Default::default());
        assert!(
            s.outbox["a"].is_empty(),
            "fired and resolved inside a silence"
        );
        s.fire(alert("y"), true, 0, 0);
        s.tick(10, |_| true);
        assert!(s.outbox["a"].is_empty());
        s.tick(20, |_| false);
        assert_eq!(s.outbox["a"].len(), 1, "sent when the silence ends");
        s.resolve("y", "t".into(), Default::default());
        assert_eq!(s.outbox["a"].len(), 2);
    }

    #[test]
    fn reminders_and_a_full_outbox_drop_the_oldest_and_count_it() {
        let mut s = store();
        s.fire(alert("x"), false, 60, 0);
        s.tick(30, |_| false);
        assert_eq!(s.outbox["a"].len(), 1);
        s.tick(60, |_| false);
        assert_eq!(s.outbox["a"].len(), 2, "reminder after 60 s");
        s.fire(alert("z"), false, 0, 61);
        assert_eq!(s.outbox["a"].len(), 2);
        assert_eq!(s.dropped["a"], 1);
        assert_eq!(s.front("a").map(|a| a.id.as_str()), Some("x"));
        s.delivered("a");
        assert_eq!(s.front("a").map(|a| a.id.as_str()), Some("z"));
    }
}
