//! System tests: real mosquitto, InfluxDB 1.6 and VictoriaMetrics started per test on free
//! loopback ports in temporary directories; the daemon runs as its own process; readings are
//! published by `mosquitto_pub`, an independent client.

mod town;
mod util;

// 10,000 readings through mosquitto into InfluxDB 1.x and VictoriaMetrics; daemon restarts.
mod ingest;
// Every rejection class counted in /metrics while valid readings keep flowing.
mod rejections;
// mqtts:// with a private CA and password authentication.
mod tls;
// Crash (kill -9), database outage, broker restart, torn buffer tail.
mod durability;
// Oversized messages, huge backlogs, 4xx answers, a full disk, a flipped byte, a corrupted
// position, /health: published, landed and counted-as-dropped reconciled exactly.
mod nothing_lost;
// `meilid replay` of a generated month for a small town against independently computed figures.
mod replay;
// `meilid report`: HTML, PDF, XLSX and CSV of a generated month, read back independently.
mod report;
// The daemon's own report of a closed month, equal to `meilid report`'s.
mod report_auto;
// Daily figures in the database survive a stop and a crash mid-day and equal a replay.
mod standards;
// Modbus TCP and RTU against pymodbus; 20 slaves and a dead one on one RS-485 line.
mod modbus;
// The firmware's Modbus RTU slave against pymodbus and the daemon's client.
mod firmware_modbus;
// The firmware's MQTT client against mosquitto (telemetry, cmd, last will).
mod firmware_mqtt;
// Issue 15: the real device image in QEMU.
mod firmware_qemu;
// Issue 18: `meilid device provision`'s image in the emulated board; the console's get/set.
mod firmware_provision;
// Issue 19: sunrise and sunset against astral (NOAA's equations) in ten towns all year.
mod sun;
// Issue 20 (part): SIGHUP reloads while readings flow.
mod reload;
// Issue 20 (part): the Debian package, its unit and lintian.
mod package;
// Issue 16: tokens, scopes, Host, silences, slowloris, secrets, TLS settings, broker ACLs.
mod security;
// Issue 17: the shape of /metrics and of the health rows, pinned before the architecture step.
mod golden;
// `meilid simulate`: every kind, link outages and backlog uploads, accepted by a gateway.
mod simulate;
// Alerts through a webhook (signed), MQTT and a real Alertmanager; offline; restart.
mod alerts;
// Alerts a Chinese city platform can dispatch: device context, GCJ-02, WeCom and DingTalk robots.
mod alerts_cn;
// The technician's web page in headless Chromium (WebDriver); the public toilet GeoJSON feed.
mod web;
mod webdriver;
// Every Grafana panel query against InfluxDB filled from a simulated day; dashboard structure.
mod dashboards;
// `meilid demo` with its backfill.
mod demo;
