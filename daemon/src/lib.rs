//! meilid: the Meili edge gateway daemon.
//!
//! # Layout
//! The pipeline reads left to right, one folder per stage:
//!
//! - [`sources`]: where readings enter (`mqtt`, `modbus`), and `internal`: the daemon's own
//!   health rows.
//! - [`transforms`]: `validate` (decode + contract checks, counted rejections), `live`
//!   (latest state per device), `aggregate` (the standards engine: daily results and
//!   compliance ratios, itself a reader of the buffer) and `alert` (reading rules, gateway
//!   rules in `alert/gateway.rs`, their lifecycle in `alert/store.rs`; another reader).
//! - [`buffer`]: the durable store-and-forward log between validation and every reader (its
//!   on-disk format and rules are specified at the top of the module): appends and reads in
//!   `mod.rs`, opening and recovery in `recover.rs`, each reader's statistics in `metrics.rs`,
//!   and `stateful.rs`, the reader that saves its position with its state (the engine and the
//!   alert evaluator).
//! - [`rows`]: the record format the buffer carries: a reading as a line-protocol row
//!   (`line_protocol::encode`) and read back (`Sample`).
//! - [`sinks`]: where readings leave (`influxdb` v1/v2, `file`), each reading the buffer from
//!   its own position, batched with retry; `alerts`: webhook, MQTT and Alertmanager channels.
//! - [`topology`]: builds the stages and joins them with bounded queues; owns shutdown.
//! - [`gateway`]: the read-only view of the running gateway (`Shared`, `View`) that the HTTP
//!   layer, the health rows and the demo's table read, without the wiring; `Telemetry` knows
//!   where each component's counters are and puts them together for `/metrics`.
//! - [`standards`]: the arithmetic of the standards, one plain module each: `aqi` (HJ 633),
//!   `air` (GB 3095 / HJ 663 validity), `noise` (GB 3096), `lighting`, `toilet`, `sun`,
//!   `ratio`; `clock` (local days and hours) and `classes` (zone, road and toilet classes).
//! - [`replay`], [`calc`]: `meilid replay` and `meilid calc`.
//! - [`config`], [`registry`], [`reload`]: typed configuration (`config/check.rs` and `config/limits.rs`:
//!   what serde cannot check), the device registry, and reloading (SIGHUP).
//! - [`http`]: the technician's web page (`http/page.html`), the API (`http/api.rs`: devices,
//!   compliance, the toilet GeoJSON feed), silences (`http/silences.rs`), authentication
//!   (`http/auth.rs`), the listeners' limits (`http/server.rs`), `/health`, `/metrics`.
//! - [`metrics`]: the ingest path's counters and rejection reasons; [`prom`]: the one writer
//!   of Prometheus text. Every other component owns and renders its own counters.
//! - [`datadir`]: the data directory's format stamp (a newer one is refused, not overwritten).
//! - [`broker`]: `meilid broker-config` (mosquitto password file and ACL); [`provision`]:
//!   `meilid device provision` (a device's configuration sector as an image); [`redact`]: secrets
//!   out of logs and errors; [`tls`]: the MQTT connections' TLS; [`time`], [`lines`]: the
//!   wall clock, line numbers in configuration text; [`systemd`]: sd_notify (ready, reloading,
//!   stopping, watchdog).
//! - [`demo`] (cargo feature `demo`, default on): `meilid demo` — embedded broker, simulated
//!   fleet, live table; and `meilid simulate`.
//!
//! There are no import cycles between files and no function over 120 lines
//! (`scripts/import-cycles.py`, `scripts/long-functions.py --max 120`, both run by
//! `tests/run`). The command line is in `src/bin/meilid/` (one file per group of commands).
//! Picture and recipes (adding a source, a sink, a rule type, a metric): docs/architecture.md.

pub mod broker;
pub mod buffer;
pub mod calc;
pub mod config;
pub mod datadir;
#[cfg(feature = "demo")]
pub mod demo;
pub mod event;
pub mod gateway;
pub mod http;
pub mod lines;
pub mod metrics;
pub mod prom;
pub mod provision;
pub mod redact;
pub mod registry;
pub mod reload;
pub mod replay;
pub mod report;
pub mod rows;
pub mod sinks;
pub mod sources;
pub mod standards;
pub mod systemd;
pub mod time;
pub mod tls;
pub mod topology;
pub mod transforms;
