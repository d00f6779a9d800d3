//! Simulated Modbus devices for `meilid simulate`: noise meters measured by the firmware's
//! level meter, served by the firmware's Modbus slave (`meili-noise` register map), one unit
//! id per device, behind one TCP listener (MBAP) or on one RTU serial line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meili_firmware::modbus::maps::input_registers;
use meili_firmware::modbus::{request_len, respond, respond_tcp, InputBank};
use meili_firmware::payload::Kind;
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
        let regs = input_registers(Kind::Noise, &r).0;
        let mut words = [0u16; 6];
        words.copy_from_slice(&regs[..6]);
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

/// Serve the bank as RTU slaves on the serial line at `path` until `stop`. Frames are cut by
/// their function's length; a silence longer than 3.5 characters (at least 2 ms) discards a
/// partial frame, as a real slave does after line noise.
pub async fn serve_rtu(path: std::path::PathBuf, baud: u32, bank: Bank, stop: CancellationToken) {
    use tokio_serial::SerialPortBuilderExt;
    let mut port = match tokio_serial::new(path.to_string_lossy(), baud).open_native_async() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "Cannot open the RTU line.");
            return;
        }
    };
    let gap = Duration::from_micros((38_500_000 / u64::from(baud.max(1))).max(2_000));
    let (mut buf, mut out) = (Vec::with_capacity(256), [0u8; 256]);
    let mut chunk = [0u8; 256];
    loop {
        let read = tokio::select! {
            _ = stop.cancelled() => return,
            r = tokio::time::timeout(gap, port.read(&mut chunk)) => r,
        };
        match read {
            Err(_) => {
                // Silence ends the frame: one that only the silence delimits (a function code
                // of unknown length) is answered, with exception 1; anything else is noise.
                if let Some(&unit) = buf.first() {
                    let words = bank
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&unit)
                        .copied();
                    if let Some(words) = words.filter(|_| request_len(&buf).is_none()) {
                        if let Some(n) = respond(unit, &buf, &mut InputBank(words), &mut out) {
                            let _ = port.write_all(&out[..n]).await;
                        }
                    }
                }
                buf.clear();
            }
            Ok(Ok(0)) | Ok(Err(_)) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
        while let Some(len) = request_len(&buf).filter(|&l| l <= buf.len()) {
            let unit = buf[0];
            let words = bank
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&unit)
                .copied();
            if let Some(words) = words {
                let mut regs = InputBank(words);
                if let Some(n) = respond(unit, &buf[..len], &mut regs, &mut out) {
                    if port.write_all(&out[..n]).await.is_err() {
                        break;
                    }
                }
            }
            buf.drain(..len);
        }
        if buf.len() > 255 {
            buf.clear();
        }
    }
}
