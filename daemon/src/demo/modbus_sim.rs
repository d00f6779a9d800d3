//! Simulated Modbus TCP devices for `meilid simulate`: noise meters measured by the
//! firmware's level meter, served by the firmware's Modbus slave (`meili-noise` register map)
//! behind one TCP listener, one unit id per device.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meili_firmware::modbus::{f32_words, respond_tcp, InputBank};
use meili_firmware::Reading;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::fleet::Rng;
use super::sensors::Noise;
use crate::config::ZoneClass;

/// Input registers per unit (`meili-noise`: LAeq, LAmax, LAmin as f32 ABCD).
pub type Bank = Arc<Mutex<HashMap<u8, [u16; 6]>>>;

/// Measure a noise meter every `period` into the bank.
pub async fn run_meter(
    unit: u8,
    class: ZoneClass,
    bank: Bank,
    period: Duration,
    stop: CancellationToken,
) {
    let (mut rng, mut meter) = (Rng::new(u64::from(unit) + 1000), Noise::default());
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let mut r = Reading::new(0, 0, period.as_secs() as u32);
        meter.period(
            &mut rng,
            class,
            false,
            period.as_secs().max(1) as u32,
            &mut r,
        );
        let mut words = [0u16; 6];
        for (i, v) in [r.laeq, r.lamax, r.lamin].into_iter().enumerate() {
            words[2 * i..2 * i + 2].copy_from_slice(&f32_words(v.unwrap_or(0.0)));
        }
        bank.lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(unit, words);
    }
}

/// Serve the bank over Modbus TCP until `stop`.
pub async fn serve(listener: tokio::net::TcpListener, bank: Bank, stop: CancellationToken) {
    loop {
        let (mut sock, _) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(_) => continue,
            },
        };
        let (bank, stop) = (Arc::clone(&bank), stop.clone());
        tokio::spawn(async move {
            let mut req = [0u8; 260];
            let mut out = [0u8; 260];
            loop {
                let header = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = sock.read_exact(&mut req[..6]) => r,
                };
                if header.is_err() {
                    return;
                }
                let len = usize::from(u16::from_be_bytes([req[4], req[5]])).min(254);
                if sock.read_exact(&mut req[6..6 + len]).await.is_err() {
                    return;
                }
                let unit = req[6];
                let words = bank
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&unit)
                    .copied();
                let Some(words) = words else { continue }; // an absent unit stays silent
                let mut regs = InputBank(words);
                if let Some(n) = respond_tcp(&req[..6 + len], |u| u == unit, &mut regs, &mut out) {
                    if sock.write_all(&out[..n]).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
}
