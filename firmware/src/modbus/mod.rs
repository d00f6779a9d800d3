//! Modbus RTU slave (no_std): frames, CRC-16, function codes 03/04/06/16, exception 01 for
//! every other function, broadcast writes (unit 0, executed without a reply), over any
//! register bank. The devices' register maps are in
//! `configs/modbus/meili-*.toml` (the daemon polls with those files).

/// CRC-16/Modbus (poly 0xA001 reflected, init 0xFFFF); sent low byte first.
pub const fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    let mut i = 0;
    while i < data.len() {
        crc ^= data[i] as u16;
        let mut b = 0;
        while b < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
            b += 1;
        }
        i += 1;
    }
    crc
}

/// Exception codes a slave answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exception {
    IllegalFunction = 1,
    IllegalDataAddress = 2,
    IllegalDataValue = 3,
    DeviceFailure = 4,
}

/// What the slave serves.
pub trait Registers {
    /// Input register (function 04), `None` if unmapped.
    fn input(&self, address: u16) -> Option<u16>;
    /// Holding register (function 03), `None` if unmapped.
    fn holding(&self, address: u16) -> Option<u16>;
    /// Whether `write_holding(address, value)` would succeed; function 16 checks every
    /// register first so that a refused request writes nothing.
    fn check_write(&self, address: u16, value: u16) -> Result<(), Exception>;
    /// Write a holding register (functions 06 and 16).
    fn write_holding(&mut self, address: u16, value: u16) -> Result<(), Exception>;
}

/// A device that serves `N` input registers and nothing else (the `meili-*` maps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputBank<const N: usize>(pub [u16; N]);

impl<const N: usize> Registers for InputBank<N> {
    fn input(&self, a: u16) -> Option<u16> {
        self.0.get(usize::from(a)).copied()
    }
    fn holding(&self, _: u16) -> Option<u16> {
        None
    }
    fn check_write(&self, _: u16, _: u16) -> Result<(), Exception> {
        Err(Exception::IllegalDataAddress)
    }
    fn write_holding(&mut self, _: u16, _: u16) -> Result<(), Exception> {
        Err(Exception::IllegalDataAddress)
    }
}

/// Length of the request frame starting with `b` (unit, function, …) for every public
/// function code whose length the frame tells, once enough of it is there; `None` while more
/// bytes are needed, and for codes only the 3.5-character silence delimits (0x2B/0x0D,
/// user-defined codes): pass what arrived before the silence to [`respond`].
pub fn request_len(b: &[u8]) -> Option<usize> {
    let at = |i: usize| b.get(i).map(|&n| usize::from(n));
    match *b.get(1)? {
        0x01..=0x06 | 0x08 => Some(8),
        0x07 | 0x0B | 0x0C | 0x11 => Some(4),
        0x0F | 0x10 => Some(9 + at(6)?),
        0x14 | 0x15 => Some(5 + at(2)?),
        0x16 => Some(10),
        0x17 => Some(13 + at(10)?),
        0x18 => Some(6),
        0x2B if *b.get(2)? == 0x0E => Some(7),
        _ => None,
    }
}

/// Unit 0: every slave executes a write and none answers.
pub const BROADCAST: u8 = 0;

/// Build the response to one complete request frame into `out`; returns its length, or
/// `None` when there is nothing to send (another unit, bad CRC, or a broadcast, whose write
/// is executed all the same).
pub fn respond(
    unit: u8,
    req: &[u8],
    regs: &mut impl Registers,
    out: &mut [u8; 256],
) -> Option<usize> {
    if req.len() < 4 {
        return None;
    }
    let (body, crc) = req.split_at(req.len() - 2);
    let broadcast = body[0] == BROADCAST;
    if crc16(body) != u16::from_le_bytes([crc[0], crc[1]]) || !(body[0] == unit || broadcast) {
        return None;
    }
    let function = body[1];
    if broadcast && !matches!(function, 0x06 | 0x10) {
        return None; // reads cannot be broadcast
    }
    let word = |i: usize| body.get(i..i + 2).map(|w| u16::from_be_bytes([w[0], w[1]]));
    let result: Result<usize, Exception> = (|| match function {
        0x03 | 0x04 => {
            let (addr, count) = (
                word(2).ok_or(Exception::IllegalDataValue)?,
                word(4).ok_or(Exception::IllegalDataValue)?,
            );
            if !(1..=125).contains(&count) {
                return Err(Exception::IllegalDataValue);
            }
            out[2] = (count * 2) as u8;
            for i in 0..count {
                let a = addr.checked_add(i).ok_or(Exception::IllegalDataAddress)?;
                let v = if function == 0x03 {
                    regs.holding(a)
                } else {
                    regs.input(a)
                };
                let v = v.ok_or(Exception::IllegalDataAddress)?;
                let at = 3 + 2 * usize::from(i);
                out[at..at + 2].copy_from_slice(&v.to_be_bytes());
            }
            Ok(3 + 2 * usize::from(count))
        }
        0x06 => {
            let (addr, value) = (
                word(2).ok_or(Exception::IllegalDataValue)?,
                word(4).ok_or(Exception::IllegalDataValue)?,
            );
            regs.write_holding(addr, value)?;
            out[2..6].copy_from_slice(&body[2..6]);
            Ok(6)
        }
        0x10 => {
            let (addr, count) = (
                word(2).ok_or(Exception::IllegalDataValue)?,
                word(4).ok_or(Exception::IllegalDataValue)?,
            );
            let bytes = usize::from(*body.get(6).ok_or(Exception::IllegalDataValue)?);
            if !(1..=123).contains(&count)
                || bytes != 2 * usize::from(count)
                || body.len() != 7 + bytes
            {
                return Err(Exception::IllegalDataValue);
            }
            let reg = |i: u16| {
                let v = word(7 + 2 * usize::from(i)).ok_or(Exception::IllegalDataValue)?;
                Ok((addr.checked_add(i).ok_or(Exception::IllegalDataAddress)?, v))
            };
            // All or nothing: check every register before writing any.
            for i in 0..count {
                let (a, v) = reg(i)?;
                regs.check_write(a, v)?;
            }
            for i in 0..count {
                let (a, v) = reg(i)?;
                regs.write_holding(a, v)?;
            }
            out[2..6].copy_from_slice(&body[2..6]);
            Ok(6)
        }
        _ => Err(Exception::IllegalFunction),
    })();
    if broadcast {
        return None;
    }
    out[0] = unit;
    let len = match result {
        Ok(n) => {
            out[1] = function;
            n
        }
        Err(e) => {
            out[1] = function | 0x80;
            out[2] = e as u8;
            3
        }
    };
    let crc = crc16(&out[..len]).to_le_bytes();
    out[len..len + 2].copy_from_slice(&crc);
    Some(len + 2)
}

/// Modbus TCP: answer one MBAP frame (`transaction, protocol 0, length, unit, PDU`) for any
/// unit listed by `serves`, through the same slave logic; returns the reply length.
pub fn respond_tcp(
    req: &[u8],
    serves: impl Fn(u8) -> bool,
    regs: &mut impl Registers,
    out: &mut [u8; 260],
) -> Option<usize> {
    if req.len() < 8 || req[2..4] != [0, 0] {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([req[4], req[5]]));
    let unit = req[6];
    let pdu = req.get(7..6 + len)?;
    if !serves(unit) || pdu.is_empty() || pdu.len() > 252 {
        return None;
    }
    // As an RTU frame: unit, PDU, CRC.
    let mut rtu = [0u8; 256];
    rtu[0] = unit;
    rtu[1..1 + pdu.len()].copy_from_slice(pdu);
    let crc = crc16(&rtu[..1 + pdu.len()]).to_le_bytes();
    rtu[1 + pdu.len()..3 + pdu.len()].copy_from_slice(&crc);
    let mut reply = [0u8; 256];
    let n = respond(unit, &rtu[..3 + pdu.len()], regs, &mut reply)?;
    // Reply without its CRC, after an MBAP header with the request's transaction id.
    let body = &reply[..n - 2];
    out[..4].copy_from_slice(&req[..4]);
    out[4..6].copy_from_slice(&(body.len() as u16).to_be_bytes());
    out[6..6 + body.len()].copy_from_slice(body);
    Some(6 + body.len())
}

/// The two registers of an f32, high word first (the maps' "ABCD").
pub fn f32_words(v: f32) -> [u16; 2] {
    let b = v.to_bits();
    [(b >> 16) as u16, b as u16]
}

pub mod maps;

#[cfg(test)]
mod tests;
