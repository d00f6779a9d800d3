//! Gateway rules (`offline`, `modbus_down`, `compliance`, `backlog`): evaluated every
//! `evaluate_interval_ms` on the gateway's clock, against what the gateway looks like then.

use meili_firmware::Kind;

use super::{parse_time, selects, text, Evaluator, TickCond};
use crate::config::alerts::{ComplianceWhen, RuleConfig, RuleType};
use crate::transforms::aggregate::report::ComplianceRow;

/// What the gateway looks like at a tick.
pub struct GatewayView<'a> {
    pub now: i64,
    pub started: i64,
    pub live: &'a crate::transforms::Live,
    pub telemetry: &'a crate::gateway::Telemetry,
    pub compliance: &'a [ComplianceRow],
}

impl Evaluator {
    /// Evaluate the gateway rules, then silences and reminders.
    pub fn tick(&mut self, g: &GatewayView<'_>) {
        let now = g.now;
        let mut seen: Vec<String> = Vec::new();
        for i in 0..self.rules.len() {
            let r = self.rules[i].clone();
            let mut subjects: Vec<Subject> = Vec::new();
            match r.kind {
                RuleType::Offline => self.offline(&r, g, &mut subjects),
                RuleType::ModbusDown => self.modbus_down(&r, g, &mut subjects),
                RuleType::Compliance => self.compliance(&r, g, &mut subjects),
                RuleType::Backlog => self.backlog(&r, g, &mut subjects),
                _ => continue,
            }
            let (tzh, ten) = text::title(&r);
            for s in subjects {
                let id = format!("{}:{}/{}", r.name, s.site, s.subject);
                seen.push(id.clone());
                let t = self.ticks.entry(id.clone()).or_insert(TickCond {
                    since: s.since.unwrap_or(now),
                    firing: false,
                });
                match s.bad {
                    Some((zh, en)) => {
                        if !t.firing && now - t.since >= i64::from(r.for_mins) * 60 {
                            t.firing = true;
                            let since = t.since;
                            self.fire(
                                i,
                                &s.site,
                                s.device.as_deref(),
                                &s.subject,
                                &s.metric,
                                s.value,
                                s.threshold,
                                since,
                                now,
                                (format!("{tzh}：{zh}"), format!("{ten}: {en}")),
                            );
                        }
                    }
                    None => {
                        let firing = t.firing;
                        self.ticks.remove(&id);
                        if firing {
                            let (zh, en) = s.good;
                            self.resolve(
                                &id,
                                now,
                                (
                                    format!("已恢复：{tzh}：{zh}"),
                                    format!("Resolved: {ten}: {en}"),
                                ),
                            );
                        }
                    }
                }
            }
        }
        // Subjects no longer evaluated (rule or device removed) resolve.
        let stale: Vec<String> = self
            .ticks
            .keys()
            .filter(|k| !seen.contains(k))
            .cloned()
            .collect();
        for id in stale {
            if self.ticks.remove(&id).is_some_and(|t| t.firing) {
                self.resolve(
                    &id,
                    now,
                    (
                        "已恢复：规则不再适用。".into(),
                        "Resolved: the rule no longer applies.".into(),
                    ),
                );
            }
        }
        let mut store = self.store();
        store.silences.retain(|s| parse_time(&s.ends) > now);
        let runtime = store.silences.clone();
        store.tick(now, |a| self.silenced(a, now, &runtime));
    }

    fn offline(&self, r: &RuleConfig, g: &GatewayView<'_>, out: &mut Vec<Subject>) {
        for (id, d) in self.registry.iter() {
            if !selects(r, &d.config.site, d.kind(), d.id()) {
                continue;
            }
            let st = g.live.get(id);
            let period = crate::transforms::live::period_secs(d, st);
            let allowed = period * i64::from(r.missed_periods);
            let last = st.last_seen_unix.unwrap_or(g.started).max(g.started);
            let will = r.on_last_will && st.offline_will;
            let silent = g.now - last > allowed;
            let label = format!("{}/{}", d.config.site, d.id());
            let (kzh, ken) = kind_names(d.kind());
            out.push(Subject {
                site: d.config.site.clone(),
                device: Some(d.id().to_string()),
                subject: d.id().to_string(),
                metric: "last_seen_age_s".into(),
                value: Some((g.now - last) as f64),
                threshold: Some(allowed as f64),
                since: Some(if will {
                    st.status_unix.unwrap_or(g.now)
                } else {
                    last + allowed
                }),
                bad: (will || silent).then(|| {
                    let (why_zh, why_en) = if will {
                        (
                            "已发出离线遗嘱消息".to_string(),
                            "sent its last will (connection lost)".to_string(),
                        )
                    } else {
                        let (zh, en) = text::duration(g.now - last);
                        (
                            format!("已 {zh} 无数据（应每 {period} 秒上报）"),
                            format!("no reading for {en} (reports every {period} s)"),
                        )
                    };
                    (
                        format!("{label}（{kzh}）{why_zh}。"),
                        format!("{label} ({ken}) {why_en}."),
                    )
                }),
                good: (
                    format!("{label}（{kzh}）恢复在线。"),
                    format!("{label} ({ken}) is back online."),
                ),
            });
        }
    }

    fn modbus_down(&self, r: &RuleConfig, g: &GatewayView<'_>, out: &mut Vec<Subject>) {
        let devices = g.telemetry.modbus();
        use std::sync::atomic::Ordering::Relaxed;
        for m in devices {
            let Some((site, dev)) = m.device.split_once('/') else {
                continue;
            };
            let Some(kind) = self.registry.find(site, dev).map(|(_, d)| d.kind()) else {
                continue;
            };
            if !selects(r, site, kind, dev) {
                continue;
            }
            let down = m.polls.load(Relaxed) > 0 && !m.up.load(Relaxed);
            let failed = m.polls_failed.load(Relaxed) as f64;
            out.push(Subject {
                site: site.into(),
                device: Some(dev.into()),
                subject: dev.into(),
                metric: "modbus_up".into(),
                value: Some(if down { 0.0 } else { 1.0 }),
                threshold: Some(1.0),
                since: None,
                bad: down.then(|| {
                    (
                        format!(
                            "{}（{}）连续无应答，累计失败轮询 {failed} 次。",
                            m.device, m.bus
                        ),
                        format!(
                            "{} on {} stopped answering ({failed} failed polls so far).",
                            m.device, m.bus
                        ),
                    )
                }),
                good: (
                    format!("{}（{}）恢复应答。", m.device, m.bus),
                    format!("{} on {} answers again.", m.device, m.bus),
                ),
            });
        }
    }

    fn compliance(&self, r: &RuleConfig, g: &GatewayView<'_>, out: &mut Vec<Subject>) {
        for row in g.compliance.iter().filter(|c| c.window == "month") {
            if !(r.sites.is_empty() || r.sites.contains(&row.site))
                || !(r.metrics.is_empty() || r.metrics.contains(&row.metric))
            {
                continue;
            }
            let (Some(target), Some(value)) = (row.target, row.value) else {
                continue;
            };
            let (mzh, men, _) = text::metric_names(&row.metric);
            let (mzh, men) = if mzh.is_empty() {
                (row.metric.as_str(), row.metric.as_str())
            } else {
                (mzh, men)
            };
            let pct = |x: f64| text::num((x * 1000.0).round() / 10.0);
            let bad = match r.when {
                ComplianceWhen::BelowTarget => (value < target).then(|| {
                    (
                        format!(
                            "{} {mzh}本月累计 {}%（{}/{}），低于目标 {}%。",
                            row.site,
                            pct(value),
                            text::num(row.numerator),
                            text::num(row.denominator),
                            pct(target)
                        ),
                        format!(
                            "{} {men} month to date {}% ({}/{}), below the target of {}%.",
                            row.site,
                            pct(value),
                            text::num(row.numerator),
                            text::num(row.denominator),
                            pct(target)
                        ),
                    )
                }),
                ComplianceWhen::Unreachable => {
                    let start: jiff::civil::Date = row.start.parse().unwrap_or_default();
                    let left = i64::from(start.days_in_month()) - i64::from(row.days);
                    let per_day = if row.days > 0 {
                        row.denominator / f64::from(row.days)
                    } else {
                        0.0
                    };
                    let extra = left.max(0) as f64 * per_day;
                    let best = if row.denominator + extra > 0.0 {
                        (row.numerator + extra) / (row.denominator + extra)
                    } else {
                        1.0
                    };
                    (row.metric != "toilet_density" && best < target).then(|| {
                        (
                            format!("{} {mzh}本月已无法达到目标 {}%（即使余下 {left} 天全部达标，最高 {}%）。", row.site, pct(target), pct(best)),
                            format!("{} {men} can no longer reach {}% this month (at most {}% even if the remaining {left} days all comply).", row.site, pct(target), pct(best)),
                        )
                    })
                }
            };
            out.push(Subject {
                site: row.site.clone(),
                device: None,
                subject: row.metric.clone(),
                metric: row.metric.clone(),
                value: Some(value),
                threshold: Some(target),
                since: None,
                bad,
                good: (
                    format!(
                        "{} {mzh}本月累计 {}%，目标 {}%。",
                        row.site,
                        pct(value),
                        pct(target)
                    ),
                    format!(
                        "{} {men} month to date {}%, target {}%.",
                        row.site,
                        pct(value),
                        pct(target)
                    ),
                ),
            });
        }
    }

    fn backlog(&self, r: &RuleConfig, g: &GatewayView<'_>, out: &mut Vec<Subject>) {
        use std::sync::atomic::Ordering::Relaxed;
        let max = i64::from(r.max_age_mins.unwrap_or(10)) * 60;
        for s in &g.telemetry.sinks {
            let t = s.oldest_unacked_unix_ms.load(Relaxed);
            let age = if t > 0 {
                (g.now * 1000 - t).max(0) / 1000
            } else {
                0
            };
            let (zh, en) = text::duration(age);
            out.push(Subject {
                site: self.gateway_site.clone(),
                device: None,
                subject: format!("sink/{}", s.name),
                metric: "oldest_unwritten_age_s".into(),
                value: Some(age as f64),
                threshold: Some(max as f64),
                since: None,
                bad: (age > max).then(|| {
                    (
                        format!("输出 {} 最早未写入的数据已积压 {zh}（数据库不可达？数据保存在本地缓冲区）。", s.name),
                        format!("sink {} has not written its oldest data for {en} (database unreachable? the data waits in the local buffer).", s.name),
                    )
                }),
                good: (format!("输出 {} 积压已清除。", s.name), format!("sink {} caught up.", s.name)),
            });
        }
    }
}

/// One subject of a gateway rule at a tick.
struct Subject {
    site: String,
    device: Option<String>,
    subject: String,
    metric: String,
    value: Option<f64>,
    threshold: Option<f64>,
    /// When the condition started, if known (else: first seen).
    since: Option<i64>,
    /// Summary (zh, en) when the condition holds.
    bad: Option<(String, String)>,
    good: (String, String),
}

fn kind_names(k: Kind) -> (&'static str, &'static str) {
    match k {
        Kind::Noise => ("噪声监测点", "noise meter"),
        Kind::Air => ("空气质量监测站", "air station"),
        Kind::Toilet => ("智慧公厕", "smart toilet"),
        Kind::Streetlight => ("路灯控制器", "streetlight controller"),
    }
}
