//! A common RS-485 Modbus sound-level transmitter as the alternative noise hardware
//! (DOMAIN.md §8.3): holding register 0x0000 = LAeq × 10, read with function 03. The device
//! is the master here, over any `embedded-io` UART with an RS-485 transceiver.

use embedded_io::{Read, Write};

use crate::modbus::crc16;

/// Driver errors: the port's own errors apart from the protocol's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<E> {
    Io(E),
    /// The reply's CRC, unit, function or length is wrong.
    BadReply,
    /// The transmitter answered with an exception code.
    Exception(u8),
}

/// The 8-byte request for `count` holding registers at `address` of `unit`.
pub fn request(unit: u8, address: u16, count: u16) -> [u8; 8] {
    let mut f = [0u8; 8];
    f[0] = unit;
    f[1] = 0x03;
    f[2..4].copy_from_slice(&address.to_be_bytes());
    f[4..6].copy_from_slice(&count.to_be_bytes());
    let crc = crc16(&f[..6]).to_le_bytes();
    f[6..].copy_from_slice(&crc);
    f
}

/// Parse the reply to a one-register read: the register's value.
pub fn parse_reply(unit: u8, r: &[u8]) -> Result<u16, Error<core::convert::Infallible>> {
    let ok_crc = |n: usize| r.len() >= n && crc16(&r[..n - 2]).to_le_bytes() == r[n - 2..n];
    if r.len() >= 5 && r[0] == unit && r[1] == 0x83 && ok_crc(5) {
        return Err(Error::Exception(r[2]));
    }
    if r.len() < 7 || r[0] != unit || r[1] != 0x03 || r[2] != 2 || !ok_crc(7) {
        return Err(Error::BadReply);
    }
    Ok(u16::from_be_bytes([r[3], r[4]]))
}

pub struct NoiseX10<P> {
    port: P,
    unit: u8,
}

impl<P: Read + Write> NoiseX10<P> {
    pub fn new(port: P, unit: u8) -> Self {
        NoiseX10 { port, unit }
    }

    pub fn release(self) -> P {
        self.port
    }

    /// Read the current level in dB(A).
    pub fn read_db(&mut self) -> Result<f32, Error<P::Error>> {
        self.port
            .write_all(&request(self.unit, 0, 1))
            .map_err(Error::Io)?;
        self.port.flush().map_err(Error::Io)?;
        let mut r = [0u8; 7];
        let mut got = 0;
        while got < r.len() {
            let n = self.port.read(&mut r[got..]).map_err(Error::Io)?;
            if n == 0 {
                break;
            }
            got += n;
            // An exception reply is 5 bytes long.
            if got == 5 && r[1] == 0x83 {
                break;
            }
        }
        match parse_reply(self.unit, &r[..got]) {
            Ok(v) => Ok(f32::from(v) / 10.0),
            Err(Error::Exception(c)) => Err(Error::Exception(c)),
            Err(_) => Err(Error::BadReply),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_frames() {
        // Query 01 03 00 00 00 01 84 0A; reply 01 03 02 02 92 38 89 = 65.8 dB.
        assert_eq!(
            request(1, 0, 1),
            [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A]
        );
        assert_eq!(
            parse_reply(1, &[0x01, 0x03, 0x02, 0x02, 0x92, 0x38, 0x89]),
            Ok(658)
        );
        assert_eq!(
            parse_reply(1, &[0x01, 0x03, 0x02, 0x02, 0x92, 0x38, 0x88]),
            Err(Error::BadReply),
            "bad CRC"
        );
        let mut exc = [0x01, 0x83, 0x02, 0, 0];
        let crc = crc16(&exc[..3]).to_le_bytes();
        exc[3..].copy_from_slice(&crc);
        assert_eq!(parse_reply(1, &exc), Err(Error::Exception(2)));
    }
}
