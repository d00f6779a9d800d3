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
use crate::gateway::Shared;
use crate::metrics::Reason;
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
    let t = &s.telemetry;
    let _ = write!(
        out,
        ",buffer_bytes={}i",
        t.buffer.metrics.bytes.load(Relaxed)
    );
    let _ = writeln!(out, " {now}");
    let now_ms = now * 1000;
    for p in t.sinks() {
        let k = p.sink;
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
            p.rows_dropped(),
            p.backlog_rows().max(0),
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use meili_firmware::{Reading, Status};

    use super::*;
    use crate::config::Config;
    use crate::event::Record;
    use crate::gateway::Telemetry;
    use crate::metrics::Metrics;
    use crate::registry::Registry;
    use crate::sinks::SinkMetrics;
    use crate::transforms::live::Live;

    fn shared() -> Shared {
        let config = Config::from_toml(
            "[[devices]]\nid = \"n1\"\nsite = \"town\"\nkind = \"noise\"\nlat = 30.0\nlon = 110.0\nzone_class = \"1\"\n\n\
             [[devices]]\nid = \"t1\"\nsite = \"town\"\nkind = \"toilet\"\nlat = 30.0\nlon = 110.0\ntoilet_class = \"1\"\n",
        )
        .unwrap();
        let registry = Arc::new(Registry::from_config(&config));
        let sink = Arc::new(SinkMetrics {
            name: "central db".into(),
            kind: "influxdb_v1",
            ..SinkMetrics::default()
        });
        let dir = tempfile::tempdir().unwrap();
        let buffer = Buffer::open(
            dir.path(),
            crate::buffer::BufferConfig::default(),
            vec![sink.name.clone()],
        )
        .unwrap()
        .0;
        let metrics = Arc::new(Metrics::default());
        let telemetry = Arc::new(Telemetry {
            ingest: Arc::clone(&metrics),
            buffer: Arc::new(buffer),
            sinks: vec![sink],
            standards: Arc::default(),
            standards_reader: None,
            alerts_reader: None,
            alerts: Arc::default(),
            channels: Arc::default(),
            modbus: std::sync::OnceLock::new(),
            pending: Arc::default(),
            reload: std::sync::OnceLock::new(),
        });
        Shared {
            live: Arc::new(Mutex::new(Live::new(&registry))),
            pending: Arc::clone(&telemetry.pending),
            ingest: Arc::default(),
            reload: None,
            registry,
            metrics,
            telemetry,
            started: std::time::Instant::now(),
            compliance: Arc::default(),
            alerts: None,
            alerts_changed: Arc::default(),
            view: Arc::new(crate::gateway::View::from_config(&config)),
        }
    }

    #[test]
    fn health_rows_carry_counters_sinks_and_every_device() {
        let s = shared();
        let now = 1_800_000_000;
        {
            let mut live = s.live.lock().unwrap();
            let mut r = Reading::new(1, now - 70, 60);
            r.laeq = Some(55.0);
            live.record_all(
                &[Record {
                    device: 0,
                    reading: r,
                }],
                now - 70,
            );
            let status = Status {
                v: 1,
                online: true,
                fw: heapless::String::try_from("1.2 \"beta\"").ok(),
                rssi_dbm: Some(-71),
                ..Status::default()
            };
            live.status(0, status, now - 70);
        }
        s.metrics.reject(Reason::BadTopic);
        s.metrics.reject(Reason::BadTopic);
        let (text, rows) = lines(&s, "gw 01", now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(rows, 4, "{text}");
        assert_eq!(lines.len(), 4);
        let meili = lines[0];
        assert!(meili.starts_with("meili,host=gw\\ 01 uptime_s="), "{meili}");
        assert!(meili.contains(",rejected_bad_topic=2i,"), "{meili}");
        assert!(meili.contains(",readings_rejected=2i"), "{meili}");
        assert_eq!(meili.matches(",rejected_").count(), Reason::ALL.len());
        assert!(meili.contains(",devices=2i,devices_online=1i,"), "{meili}");
        assert!(meili.ends_with(&format!(" {now}")));
        assert!(lines[1].starts_with("meili_sink,host=gw\\ 01,sink=central\\ db rows_written=0i,"));
        assert_eq!(
            lines[2],
            format!(
                "device_status,site=town,device=n1,kind=noise online=true,readings=1i,rejected=0i,\
                 age_s=70i,rssi_dbm=-71i,fw=\"1.2 \\\"beta\\\"\" {now}"
            )
        );
        assert_eq!(
            lines[3],
            format!("device_status,site=town,device=t1,kind=toilet online=false,readings=0i,rejected=0i {now}")
        );
    }
}
