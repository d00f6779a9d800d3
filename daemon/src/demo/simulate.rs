//! `meilid simulate`: N simulated devices of each kind against any MQTT broker, for load and
//! soak tests of a gateway, with link outages on demand (readings then go to each device's
//! offline buffer and are uploaded as backlog arrays). Streetlights whose id ends in 4 have a
//! dead tube (a `lamp_failure` fault) — one in ten. Noise meters can also be served over
//! Modbus TCP (`--modbus-noise N --modbus-tcp ADDR`) or on an RTU serial line
//! (`--modbus-rtu PATH --modbus-baud B`), one unit id each.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use meili_firmware::Kind;
use tokio_util::sync::CancellationToken;

use super::fleet::{self, SimOptions};
use crate::config::{DeviceConfig, RoadClass, ToiletClass, ZoneClass};

#[derive(Debug, Clone)]
pub struct Simulate {
    pub broker: std::net::SocketAddr,
    pub site: String,
    /// Devices per kind: noise, air, toilet, streetlight.
    pub counts: [usize; 4],
    pub period: Duration,
    pub offline_pct: f64,
    pub timezone: jiff::tz::TimeZone,
    /// Noise meters served over Modbus (units 1…N) on `modbus`.
    pub modbus_noise: usize,
    pub modbus: Option<ModbusLink>,
    /// Opening hours ("HH:MM-HH:MM") given to the toilets in turn; empty: 06:00-22:00.
    pub toilet_hours: Vec<String>,
    /// Simulated clock from here (unix s; the past is published at full speed) …
    pub start_unix: Option<i64>,
    /// … until here.
    pub end_unix: Option<i64>,
}

/// Where the simulated Modbus meters answer.
#[derive(Debug, Clone)]
pub enum ModbusLink {
    Tcp(std::net::SocketAddr),
    /// Serial line (e.g. one end of a pty pair) and its baud rate.
    Rtu(std::path::PathBuf, u32),
}

/// `[[devices]]` of the Modbus noise meters (`m0001` …), polled with `map` over `link`
/// (for RTU: the gateway's end of the line).
pub fn modbus_devices(
    site: &str,
    n: usize,
    link: &ModbusLink,
    map: &std::path::Path,
    period_secs: u64,
) -> Vec<DeviceConfig> {
    (1..=n)
        .map(|i| DeviceConfig {
            id: format!("m{i:04}"),
            site: site.to_string(),
            kind: Kind::Noise,
            lat: 23.35,
            lon: 103.36 + i as f64 * 1e-3,
            name: None,
            zone_class: Some(ZoneClass::ALL[i % 6]),
            area_km2: Some(0.5),
            road_class: None,
            toilet_class: None,
            period_secs: None,
            opening_hours: None,
            facilities: Vec::new(),
            modbus: Some(crate::config::ModbusDevice {
                tcp: match link {
                    ModbusLink::Tcp(a) => Some(a.to_string()),
                    ModbusLink::Rtu(..) => None,
                },
                rtu: match link {
                    ModbusLink::Rtu(p, _) => Some(p.clone()),
                    ModbusLink::Tcp(_) => None,
                },
                baud: match link {
                    ModbusLink::Rtu(_, b) => Some(*b),
                    ModbusLink::Tcp(_) => None,
                },
                parity: crate::config::Parity::None,
                stop_bits: 1,
                unit: i as u8,
                map: map.to_path_buf(),
                interval_secs: period_secs,
                timeout_ms: 1000,
                retries: 1,
                offline_after_polls: 3,
            }),
        })
        .collect()
}

/// The simulated devices (ids `n0001`, `a0001`, `t0001`, `l0001` …). Toilets take
/// `toilet_hours` in turn; odd-numbered toilets are wheelchair accessible with baby changing.
pub fn devices(site: &str, counts: [usize; 4], toilet_hours: &[String]) -> Vec<DeviceConfig> {
    let kinds = [Kind::Noise, Kind::Air, Kind::Toilet, Kind::Streetlight];
    let mut out = Vec::new();
    for (kind, n) in kinds.into_iter().zip(counts) {
        for i in 1..=n {
            let prefix = &kind.as_str()[..1];
            out.push(DeviceConfig {
                id: format!(
                    "{}{i:04}",
                    if kind == Kind::Streetlight {
                        "l"
                    } else {
                        prefix
                    }
                ),
                site: site.to_string(),
                kind,
                lat: 23.36 + (i % 100) as f64 * 1e-3,
                lon: 103.37 + (i / 100) as f64 * 1e-3,
                name: None,
                zone_class: (kind == Kind::Noise).then(|| ZoneClass::ALL[i % 6]),
                area_km2: (kind == Kind::Noise).then_some(0.5),
                road_class: (kind == Kind::Streetlight).then_some(if i % 2 == 0 {
                    RoadClass::Main
                } else {
                    RoadClass::Secondary
                }),
                toilet_class: (kind == Kind::Toilet).then_some(ToiletClass::C2),
                period_secs: None,
                opening_hours: (kind == Kind::Toilet && !toilet_hours.is_empty())
                    .then(|| toilet_hours[(i - 1) % toilet_hours.len()].clone()),
                facilities: if kind == Kind::Toilet && i % 2 == 1 {
                    vec!["wheelchair".into(), "baby_changing".into()]
                } else {
                    Vec::new()
                },
                modbus: None,
            });
        }
    }
    out
}

/// `[[devices]]` TOML for a gateway that should accept these devices.
pub fn config_toml(devices: &[DeviceConfig]) -> String {
    let mut s = String::new();
    for d in devices {
        let _ = write!(
            s,
            "[[devices]]\nid = \"{}\"\nsite = \"{}\"\nkind = \"{}\"\nlat = {}\nlon = {}\n",
            d.id,
            d.site,
            d.kind.as_str(),
            d.lat,
            d.lon
        );
        if let Some(z) = d.zone_class {
            let _ = write!(s, "zone_class = \"{}\"\narea_km2 = 0.5\n", z.as_str());
        }
        if let Some(r) = d.road_class {
            let _ = writeln!(s, "road_class = \"{}\"", r.as_str());
        }
        if let Some(t) = d.toilet_class {
            let _ = writeln!(s, "toilet_class = \"{}\"", t.as_str());
        }
        if let Some(h) = &d.opening_hours {
            let _ = writeln!(s, "opening_hours = \"{h}\"");
        }
        if !d.facilities.is_empty() {
            let list: Vec<String> = d.facilities.iter().map(|f| format!("\"{f}\"")).collect();
            let _ = writeln!(s, "facilities = [{}]", list.join(", "));
        }
        if let Some(m) = &d.modbus {
            let at = match (&m.tcp, &m.rtu) {
                (Some(t), _) => format!("tcp = \"{t}\""),
                (None, Some(p)) => {
                    format!(
                        "rtu = \"{}\", baud = {}",
                        p.display(),
                        m.baud.unwrap_or(9600)
                    )
                }
                (None, None) => String::new(),
            };
            let _ = writeln!(
                s,
                "modbus = {{ {at}, unit = {}, map = \"{}\", interval_secs = {} }}",
                m.unit,
                m.map.display(),
                m.interval_secs
            );
        }
        s.push('\n');
    }
    s
}

/// Run until `stop`; returns (readings published, readings dropped by full offline buffers).
pub async fn run(sim: Simulate, stop: impl std::future::Future<Output = ()>) -> (u64, u64) {
    let opts = SimOptions {
        offline_pct: sim.offline_pct,
        start_unix: sim.start_unix,
        end_unix: sim.end_unix,
        ..SimOptions::default()
    };
    let token = CancellationToken::new();
    let tasks: Vec<_> = devices(&sim.site, sim.counts, &sim.toilet_hours)
        .into_iter()
        .map(|d| {
            tokio::spawn(fleet::run_device(
                d,
                sim.broker,
                sim.period,
                sim.timezone.clone(),
                token.clone(),
                opts.clone(),
            ))
        })
        .collect();
    let bank = super::modbus_sim::Bank::default();
    let mut modbus = Vec::new();
    if let Some(link) = sim.modbus.filter(|_| sim.modbus_noise > 0) {
        let server = match link {
            ModbusLink::Tcp(addr) => match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => Some(tokio::spawn(super::modbus_sim::serve(
                    l,
                    bank.clone(),
                    token.clone(),
                ))),
                Err(e) => {
                    tracing::error!(%addr, error = %e, "Cannot listen for Modbus TCP.");
                    None
                }
            },
            ModbusLink::Rtu(path, baud) => Some(tokio::spawn(super::modbus_sim::serve_rtu(
                path,
                baud,
                bank.clone(),
                token.clone(),
            ))),
        };
        if let Some(server) = server {
            modbus.push(server);
            for u in 1..=sim.modbus_noise.min(247) {
                modbus.push(tokio::spawn(super::modbus_sim::run_meter(
                    u as u8,
                    ZoneClass::ALL[u % 6],
                    bank.clone(),
                    sim.period,
                    token.clone(),
                )));
            }
        }
    }
    if sim.end_unix.is_some() && modbus.is_empty() {
        // Every device stops by itself at the end of the simulated clock.
        let all = async {
            for t in tasks {
                let _ = t.await;
            }
        };
        tokio::pin!(all);
        tokio::select! {
            _ = stop => {
                token.cancel();
                (&mut all).await;
            }
            _ = &mut all => {}
        }
        return (opts.published.load(Relaxed), opts.dropped.load(Relaxed));
    }
    stop.await;
    token.cancel();
    for t in tasks.into_iter().chain(modbus) {
        let _ = t.await;
    }
    (opts.published.load(Relaxed), opts.dropped.load(Relaxed))
}
