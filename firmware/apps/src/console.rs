//! The technician's console (115200 8N1 on the console port): log lines out, and a small
//! line-oriented provisioning shell in: `show`, `set KEY VALUE`, `save`, `status`, `reboot`,
//! and a pasted PEM certificate (the broker's CA for `tls on`).

use core::fmt::Write as _;
use core::sync::atomic::Ordering;

use embassy_futures::select::{select, Either};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::pipe::Pipe;
use embassy_time::Instant;
use embedded_io_async::{Read, Write};
use heapless::{String, Vec};

use crate::board::Uart;
use crate::config::Config;
use crate::station;

static LOG: Pipe<CriticalSectionRawMutex, 2048> = Pipe::new();

/// Log a line on the console (dropped, never waited for, when the console is behind).
#[macro_export]
macro_rules! log {
    ($($t:tt)*) => { $crate::console::log(format_args!($($t)*)) };
}

pub fn log(args: core::fmt::Arguments<'_>) {
    let mut s: String<256> = String::new();
    let ms = Instant::now().as_millis();
    let _ = write!(s, "[{:>6}.{:03}] ", ms / 1000, ms % 1000);
    let _ = s.write_fmt(args);
    let _ = s.push_str("\r\n");
    let _ = LOG.try_write(s.as_bytes());
}

#[embassy_executor::task]
pub async fn run(mut uart: Uart, mut cfg: Config) {
    let mut line: Vec<u8, 128> = Vec::new();
    let mut pem = crate::tls::PemPaste::default();
    let mut out = [0u8; 256];
    loop {
        let mut b = [0u8; 16];
        match select(LOG.read(&mut out), uart.read(&mut b)).await {
            Either::First(n) => {
                let _ = uart.write(&out[..n]).await;
            }
            Either::Second(Ok(n)) => {
                for &c in &b[..n] {
                    if c == b'\r' || c == b'\n' {
                        if !line.is_empty() {
                            let text = core::str::from_utf8(&line).unwrap_or("");
                            let reboot = match pem.line(text) {
                                crate::tls::Pem::No => command(text.trim(), &mut cfg).await,
                                crate::tls::Pem::More => false,
                                crate::tls::Pem::Done(n) => {
                                    let der = pem.der(n);
                                    let ok = station::with_store(async |s| s.save_ca(der).await)
                                        .await
                                        == Some(true);
                                    crate::log!(
                                        "ca: {} bytes {} (reboot to use)",
                                        n,
                                        if ok { "saved" } else { "NOT saved" }
                                    );
                                    false
                                }
                                crate::tls::Pem::Bad(why) => {
                                    crate::log!("ca: {}", why);
                                    false
                                }
                            };
                            line.clear();
                            if reboot {
                                // Let the technician read everything logged so far.
                                while let Ok(n) = LOG.try_read(&mut out) {
                                    let _ = uart.write(&out[..n]).await;
                                }
                                crate::board::restart();
                            }
                        }
                    } else if line.push(c).is_err() {
                        line.clear();
                    }
                }
            }
            Either::Second(Err(_)) => {}
        }
    }
}

/// Run one console command; true: reboot now.
async fn command(text: &str, cfg: &mut Config) -> bool {
    let mut words = text.splitn(3, ' ');
    match (words.next(), words.next(), words.next()) {
        (Some("show"), ..) => {
            crate::log!(
                "config: id={} site={} broker={}:{} username={} password={}",
                cfg.id,
                cfg.site,
                cfg.broker_host,
                cfg.broker_port,
                cfg.username,
                if cfg.password.is_empty() { "" } else { "***" },
            );
            crate::log!(
                "config: apn={} period_s={} offset={} unit={}",
                cfg.apn,
                cfg.period_s,
                cfg.offset,
                cfg.unit
            );
            crate::log!(
                "config: noise_input={:?} nh3_zero_v={} nh3_span_v={} h2s_zero_v={} h2s_span_v={}",
                cfg.noise_input,
                cfg.nh3_zero_v,
                cfg.nh3_span_v,
                cfg.h2s_zero_v,
                cfg.h2s_span_v
            );
            crate::log!(
                "config: lat={} lon={} utc_offset_min={} on_offset_min={} off_offset_min={} dim_pct={} v_per_count={} a_per_count={}",
                cfg.lat,
                cfg.lon,
                cfg.utc_offset_min,
                cfg.on_offset_min,
                cfg.off_offset_min,
                cfg.dim_pct,
                cfg.v_per_count,
                cfg.a_per_count
            );
            let mut ca = [0u8; crate::tls::CA_MAX];
            let ca_len = station::with_store(async |s| s.ca(&mut ca).await)
                .await
                .flatten()
                .unwrap_or(0);
            crate::log!(
                "config: tls={} ca={} bytes modbus_unit={} modbus_baud={}",
                if cfg.tls { "on" } else { "off" },
                ca_len,
                cfg.modbus_unit,
                cfg.modbus_baud
            );
        }
        (Some("set"), Some(k), Some(v)) => match cfg.set(k, v.trim()) {
            Ok(()) => crate::log!("set {}: ok (save, then reboot to apply)", k),
            Err(e) => crate::log!("set {}: {}", k, e),
        },
        (Some("save"), ..) => {
            let ok = station::with_store(async |s| s.save_config(cfg).await).await;
            crate::log!("save: {}", if ok == Some(true) { "ok" } else { "FAILED" });
        }
        (Some("status"), ..) => {
            let (queued, dropped) = station::with_store(async |s| (s.queued, s.dropped))
                .await
                .unwrap_or((0, 0));
            crate::log!(
                "status: online={} queued={} dropped={} reset={} stack_peak={} rtu_answered={} rtu_ignored={}",
                station::ONLINE.load(Ordering::Relaxed),
                queued,
                dropped + station::DROPPED.load(Ordering::Relaxed),
                station::reset_reason().as_str(),
                crate::stack::peak_bytes(),
                crate::rtu::ANSWERED.load(Ordering::Relaxed),
                crate::rtu::IGNORED.load(Ordering::Relaxed)
            );
        }
        (Some("reboot"), ..) => {
            crate::log!("rebooting");
            return true;
        }
        _ => crate::log!("commands: show | set KEY VALUE | save | status | reboot"),
    }
    false
}
