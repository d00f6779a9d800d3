//! The Modbus RTU slave on the field bus (RS-485): answers a gateway's polls with the latest
//! reading in the kind's register map (`meili_firmware::modbus::maps`, the same as
//! `configs/modbus/meili-{kind}.toml`). Frames are cut by their function's length; a silence
//! of 3.5 characters (1.75 ms above 19,200 baud) ends or discards a partial frame, and the
//! reply waits the same silence.

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, Ordering};

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::blocking_mutex::Mutex;
use embassy_time::{with_timeout, Duration, Timer};
use embedded_io_async::{Read, Write};
use heapless::Vec;
use meili_firmware::modbus::maps::{input_registers, WORDS};
use meili_firmware::modbus::{request_len, respond, InputBank};
use meili_firmware::payload::Kind;
use meili_firmware::Reading;

use crate::board::Uart;

static BANK: Mutex<CriticalSectionRawMutex, Cell<Option<(Kind, InputBank<WORDS>)>>> =
    Mutex::new(Cell::new(None));
/// Requests answered (an exception counts), and frames ignored (another unit, a bad CRC, a
/// partial frame cut by silence, a frame longer than 256 bytes).
pub static ANSWERED: AtomicU32 = AtomicU32::new(0);
pub static IGNORED: AtomicU32 = AtomicU32::new(0);

/// Serve this reading from now on (the registers of a reading without values until the first).
pub fn update(r: &Reading) {
    BANK.lock(|b| {
        if let Some((kind, _)) = b.get() {
            b.set(Some((kind, input_registers(kind, r))));
        }
    });
}

/// 3.5 characters of 11 bits; a fixed 1.75 ms above 19,200 baud (Modbus over serial line).
pub fn silence(baud: u32) -> Duration {
    if baud > 19_200 {
        Duration::from_micros(1_750)
    } else {
        Duration::from_micros(38_500_000 / u64::from(baud.max(300)))
    }
}

#[embassy_executor::task]
pub async fn run(mut port: Uart, kind: Kind, unit: u8, baud: u32) {
    BANK.lock(|b| b.set(Some((kind, input_registers(kind, &Reading::new(0, 0, 0))))));
    port.set_baud(baud);
    let t35 = silence(baud);
    let mut frame: Vec<u8, 256> = Vec::new();
    let mut out = [0u8; 256];
    crate::log!("rtu: unit {} at {} baud", unit, baud);
    loop {
        let mut chunk = [0u8; 64];
        let got = if frame.is_empty() {
            Ok(port.read(&mut chunk).await)
        } else {
            with_timeout(t35, port.read(&mut chunk)).await
        };
        match got {
            Ok(Ok(n)) => {
                if frame.extend_from_slice(&chunk[..n]).is_err() {
                    frame.clear();
                    IGNORED.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                while let Some(len) = request_len(&frame).filter(|&l| l <= frame.len()) {
                    answer(&mut port, unit, &frame[..len], &mut out, t35).await;
                    frame.rotate_left(len);
                    frame.truncate(frame.len() - len);
                }
            }
            Ok(Err(_)) => {}
            // Silence: a frame whose function gives no length ends here; a partial one goes.
            Err(_) => {
                if request_len(&frame).is_none() && frame.len() >= 4 {
                    answer(&mut port, unit, &frame, &mut out, t35).await;
                } else {
                    IGNORED.fetch_add(1, Ordering::Relaxed);
                }
                frame.clear();
            }
        }
    }
}

async fn answer(port: &mut Uart, unit: u8, req: &[u8], out: &mut [u8; 256], t35: Duration) {
    let Some((_, mut bank)) = BANK.lock(|b| b.get()) else {
        return;
    };
    match respond(unit, req, &mut bank, out) {
        Some(n) => {
            Timer::after(t35).await;
            let _ = port.write_all(&out[..n]).await;
            ANSWERED.fetch_add(1, Ordering::Relaxed);
        }
        None => {
            IGNORED.fetch_add(1, Ordering::Relaxed);
        }
    }
}
