//! Issue 6: the firmware's Modbus RTU slave answers an independent master (pymodbus) and the
//! daemon's tokio-modbus client (`meilid modbus probe`) over a socat pty pair.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use meili_firmware::modbus::{f32_words, request_len, respond, InputBank};

use crate::util::*;

/// Serve unit `unit` on the pty at `path` until the pty closes: assemble frames from the
/// byte stream, drop a byte and resynchronise when a frame's CRC fails.
fn serve(path: &Path, unit: u8, mut regs: InputBank<6>) {
    let mut port = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let (mut buf, mut chunk, mut out) = (Vec::new(), [0u8; 64], [0u8; 256]);
    loop {
        let Ok(n) = port.read(&mut chunk) else { return };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(len) = request_len(&buf) {
            if buf.len() < len {
                break;
            }
            let frame: Vec<u8> = buf.drain(..len).collect();
            let crc_ok =
                meili_firmware::modbus::crc16(&frame[..len - 2]).to_le_bytes() == frame[len - 2..];
            if !crc_ok {
                // Not a frame boundary: slide by one byte.
                buf.splice(0..0, frame[1..].iter().copied());
                continue;
            }
            if let Some(m) = respond(unit, &frame, &mut regs, &mut out) {
                port.write_all(&out[..m]).unwrap();
            }
        }
    }
}

#[test]
fn firmware_slave_answers_pymodbus_and_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let (_socat, a, b) = pty_pair(dir.path(), "device", "master");
    let mut regs = [0u16; 6];
    for (i, v) in [65.75f32, 78.5, 40.25].into_iter().enumerate() {
        regs[2 * i..2 * i + 2].copy_from_slice(&f32_words(v));
    }
    let path = a.clone();
    std::thread::spawn(move || serve(&path, 7, InputBank(regs)));

    // The daemon's client, with the shipped map.
    let map = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/modbus/meili-noise.toml");
    let out = run_ok(
        Command::new(env!("CARGO_BIN_EXE_meilid"))
            .args([
                "modbus", "probe", "--baud", "9600", "--unit", "7", "--format", "json", "--rtu",
            ])
            .arg(&b)
            .arg("--map")
            .arg(&map),
    );
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        got,
        serde_json::json!({"laeq": 65.75, "lamax": 78.5, "lamin": 40.25})
    );

    // pymodbus as the master: the same registers, and exception 2 for an unmapped one.
    let script = format!(
        r#"
from pymodbus.client import ModbusSerialClient
c = ModbusSerialClient(port="{}", baudrate=9600, timeout=2)
assert c.connect()
r = c.read_input_registers(0, count=6, device_id=7)
print(" ".join(str(x) for x in r.registers))
e = c.read_input_registers(100, count=1, device_id=7)
print(e.exception_code)
c.close()
"#,
        b.display()
    );
    let text = run_ok(Command::new("python3").arg("-c").arg(&script));
    let mut lines = text.lines();
    let words: Vec<u16> = lines
        .next()
        .unwrap()
        .split(' ')
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(words, regs.to_vec());
    assert_eq!(lines.next(), Some("2"));
}
