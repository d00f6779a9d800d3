//! The daemon's own health as rows in the database (like Telegraf's `internal` input), written
//! every `daemon.health_interval_secs` through the durable buffer to every sink:
//!
//! - `meili` (host): counters and gauges of the pipeline, rejections per reason as
//!   `rejected_{reason}` fields (CONTRACT §4);
//! - `meili_sink` (host, sink): rows written, errors, backlog (extension);
//! - `device_status` (site, device, kind): online, age of the last reading, readings,
//!   rejections, signal strength and firmware from status messages (extension).
//!
//! Grafana's fleet-health dashboard reads these (docs/schema.md).

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::buffer::Buffer;
use crate::metrics::Reason;
use crate::topology::Shared;
use crate::transforms::live::online;

/// Escape a tag value (commas, spaces, equals signs).
fn tag(out: &mut String, v: &str) {
    for c in v.chars() {
        if matches!(c, ',' | ' ' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The health rows at `now` (unix seconds), and how many there are.
pub fn lines(s: &Shared, host: &str, now: i64) -> (String, u32) {
    let m = &s.metrics;
    let mut out = String::with_capacity(256 + s.registry.len() * 160);
    let mut host_tag = String::new();
    tag(&mut host_tag, host);
    let live = s.live.lock().unwrap_or_else(|e| e.into_inner());
    let mut devices_online = 0u64;
    let mut devs = String::new();
    for (id, d) in s.registry.iter() {
        let st = live.get(id);
        let on = online(d, st, now);
        devices_online += u64::from(on);
        let c = &d.config;
        let _ = write!(
            devs,
            "device_status,site={},device={},kind={} online={on},readings={}i,rejected={}i",
            c.site,
            c.id,
            c.kind.as_str(),
            st.readings,
            st.rejected
        );
        if let Some(t) = st.last_seen_unix {
            let _ = write!(devs, ",age_s={}i", (now - t).max(0));
        }
        if let Some(x) = &st.status {
            if let Some(r) = x.rssi_dbm {
                let _ = write!(devs, ",rssi_dbm={r}i");
            }
            if let Some(b) = x.buffered {
                let _ = write!(devs, ",buffered={b}i");
            }
            if let Some(u) = x.uptime_s {
                let _ = write!(devs, ",uptime_s={u}i");
            }
            if let Some(fw) = &x.fw {
                let fw = fw.replace('\\', "\\\\").replace('"', "\\\"");
                let _ = write!(devs, ",fw=\"{fw}\"");
            }
        }
        let _ = writeln!(devs, " {now}");
    }
    drop(live);
    let (active, silenced) = s.alerts.as_ref().map_or((0, 0), |a| {
        let st = a.lock().unwrap_or_else(|e| e.into_inner());
        let silenced = st.active.values().filter(|x| x.silenced).count();
        (st.active.len(), silenced)
    });
    let _ = write!(
        out,
        "meili,host={host_tag} uptime_s={}i,messages_received={}i,readings_accepted={}i,readings_rejected={}i",
        s.started.elapsed().as_secs(),
        m.messages_received.load(Relaxed),
        m.accepted_total(),
        m.rejected_total()
    );
    for r in Reason::ALL {
        let _ = write!(out, ",rejected_{}={}i", r.as_str(), m.rejected(r));
    }
    let _ = write!(
        out,
        ",devices={}i,devices_online={devices_online}i,mqtt_connected={},alerts_active={active}i,alerts_silenced={silenced}i",
        s.registry.len(),
        m.mqtt_connected.load(Relaxed)
    );
    if let Some(b) = &m.buffer {
        let _ = write!(out, ",buffer_bytes={}i", b.metrics.bytes.load(Relaxed));
    }
    let _ = writeln!(out, " {now}");
    let now_ms = now * 1000;
    for k in &m.sinks {
        let oldest = k.oldest_unacked_unix_ms.load(Relaxed);
        let age = if oldest > 0 {
            (now_ms - oldest).max(0) / 1000
        } else {
            0
        };
        let _ = write!(out, "meili_sink,host={host_tag},sink=");
        tag(&mut out, &k.name);
        let _ = writeln!(
            out,
            " rows_written={}i,write_errors={}i,rows_dropped={}i,backlog_rows={}i,oldest_unwritten_age_s={age}i,up={} {now}",
            k.rows_written.load(Relaxed),
            k.write_errors_retryable.load(Relaxed) + k.write_errors_permanent.load(Relaxed),
            k.rows_dropped.load(Relaxed),
            k.backlog_rows.load(Relaxed).max(0),
            k.up.load(Relaxed)
        );
    }
    out.push_str(&devs);
    let rows = out.bytes().filter(|&b| b == b'\n').count() as u32;
    (out, rows)
}

/// This machine's host name (`/proc/sys/kernel/hostname`), or `meilid`.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "meilid".into())
}

/// Append the health rows every `every` until `stop`, and once more when stopping.
pub async fn run(
    shared: Shared,
    buffer: Arc<Buffer>,
    host: String,
    every: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            _ = stop.cancelled() => true,
            _ = tick.tick() => false,
        };
        let (text, rows) = lines(&shared, &host, jiff::Timestamp::now().as_second());
        let b = Arc::clone(&buffer);
        match tokio::task::spawn_blocking(move || b.append(rows, text.as_bytes())).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "Cannot append the health rows; skipped."),
            Err(_) => tracing::error!("Health rows task failed."),
        }
        if last {
            return;
        }
    }
}
