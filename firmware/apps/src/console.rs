//! The technician's console (115200 8N1 on the console port): log lines out, and a small
//! line-oriented provisioning shell in: `show`, `get KEY`, `set KEY VALUE`, `save`, `status`,
//! `reboot`, and a pasted PEM certificate (the broker's CA for `tls on`). Keys: docs/firmware.md.

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
            // Lines of up to ~160 characters, so the log pipe takes them all at once.
            let mut line: String<192> = String::new();
            for key in crate::config::KEYS {
                let _ = write!(line, " {key}=");
                let _ = value(cfg, key, &mut line).await;
                if line.len() > 160 {
                    crate::log!("config:{}", line);
                    line.clear();
                }
            }
            if !line.is_empty() {
                crate::log!("config:{}", line);
            }
        }
        (Some("get"), Some(k), _) => {
            let mut v: String<96> = String::new();
            match value(cfg, k.trim(), &mut v).await {
                Ok(()) => crate::log!("{}={}", k.trim(), v),
                Err(e) => crate::log!("get {}: {}", k.trim(), e),
            }
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
        _ => crate::log!("commands: show | get KEY | set KEY VALUE | save | status | reboot"),
    }
    false
}

/// A key's value; `ca` (bytes of the stored certificate) and `seq` come from their own items.
async fn value(
    cfg: &Config,
    key: &str,
    out: &mut dyn core::fmt::Write,
) -> Result<(), &'static str> {
    match key {
        "ca" => {
            let mut ca = [0u8; crate::tls::CA_MAX];
            let n = station::with_store(async |s| s.ca(&mut ca).await)
                .await
                .flatten()
                .unwrap_or(0);
            write!(out, "{n} bytes").map_err(|_| "too long")
        }
        "seq" => {
            let n = station::with_store(async |s| s.seq().await)
                .await
                .unwrap_or(0);
            write!(out, "{n}").map_err(|_| "too long")
        }
        _ => cfg.get(key, out),
    }
}
