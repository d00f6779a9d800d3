//! Sensirion SHT4x temperature and humidity over I2C (DOMAIN.md §8.2).
//!
//! Measure command `0xFD` (high precision), wait ≥ 8.3 ms, read 6 bytes
//! `[T_msb T_lsb CRC RH_msb RH_lsb CRC]`; CRC-8 polynomial 0x31, init 0xFF.
//! T = −45 + 175·S_T/65535 °C; RH = −6 + 125·S_RH/65535 %, clamped to 0–100.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

pub const ADDRESS: u8 = 0x44;
const MEASURE_HIGH: u8 = 0xFD;
const SOFT_RESET: u8 = 0x94;

/// CRC-8 of the SHT4x (poly 0x31, init 0xFF).
pub const fn crc8(data: &[u8]) -> u8 {
    let mut crc = 0xFFu8;
    let mut i = 0;
    while i < data.len() {
        crc ^= data[i];
        let mut b = 0;
        while b < 8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x31
            } else {
                crc << 1
            };
            b += 1;
        }
        i += 1;
    }
    crc
}

/// Driver errors: the bus's own errors apart from a failed checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<E> {
    I2c(E),
    Crc,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    pub temp_c: f32,
    pub rh_pct: f32,
}

/// Convert the raw words.
pub fn convert(t: u16, rh: u16) -> Measurement {
    let temp_c = -45.0 + 175.0 * f32::from(t) / 65535.0;
    let rh_pct = (-6.0 + 125.0 * f32::from(rh) / 65535.0).clamp(0.0, 100.0);
    Measurement { temp_c, rh_pct }
}

/// Check and convert a 6-byte reply.
pub fn decode(b: &[u8; 6]) -> Option<Measurement> {
    if crc8(&b[..2]) != b[2] || crc8(&b[3..5]) != b[5] {
        return None;
    }
    Some(convert(
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[3], b[4]]),
    ))
}

pub struct Sht4x<I> {
    i2c: I,
    address: u8,
}

impl<I: I2c> Sht4x<I> {
    pub fn new(i2c: I, address: u8) -> Self {
        Sht4x { i2c, address }
    }

    pub fn release(self) -> I {
        self.i2c
    }

    pub fn reset(&mut self, delay: &mut impl DelayNs) -> Result<(), Error<I::Error>> {
        self.i2c
            .write(self.address, &[SOFT_RESET])
            .map_err(Error::I2c)?;
        delay.delay_ms(1);
        Ok(())
    }

    /// One high-precision measurement.
    pub fn measure(&mut self, delay: &mut impl DelayNs) -> Result<Measurement, Error<I::Error>> {
        self.i2c
            .write(self.address, &[MEASURE_HIGH])
            .map_err(Error::I2c)?;
        delay.delay_ms(9);
        let mut b = [0u8; 6];
        self.i2c.read(self.address, &mut b).map_err(Error::I2c)?;
        decode(&b).ok_or(Error::Crc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_datasheet_example() {
        // Sensirion's worked example: CRC(0xBEEF) = 0x92.
        assert_eq!(crc8(&[0xBE, 0xEF]), 0x92);
    }

    #[test]
    fn conversion_end_points() {
        let m = convert(0, 0);
        assert_eq!((m.temp_c, m.rh_pct), (-45.0, 0.0));
        let m = convert(0xFFFF, 0xFFFF);
        assert_eq!((m.temp_c, m.rh_pct), (130.0, 100.0));
        // 25 °C ↔ S_T = 70·65535/175 = 26214.
        assert!((convert(26214, 0).temp_c - 25.0).abs() < 0.01);
    }

    /// A simulated sensor answering one measurement.
    struct Bus {
        reply: [u8; 6],
        written: std::vec::Vec<u8>,
    }
    impl embedded_hal::i2c::ErrorType for Bus {
        type Error = embedded_hal::i2c::ErrorKind;
    }
    impl I2c for Bus {
        fn transaction(
            &mut self,
            address: u8,
            ops: &mut [embedded_hal::i2c::Operation<'_>],
        ) -> Result<(), Self::Error> {
            assert_eq!(address, ADDRESS);
            for op in ops {
                match op {
                    embedded_hal::i2c::Operation::Write(b) => self.written.extend_from_slice(b),
                    embedded_hal::i2c::Operation::Read(b) => b.copy_from_slice(&self.reply),
                }
            }
            Ok(())
        }
    }
    struct NoDelay;
    impl DelayNs for NoDelay {
        fn delay_ns(&mut self, _: u32) {}
    }

    #[test]
    fn measures_and_checks_the_crc() {
        let (t, rh) = (26214u16.to_be_bytes(), 32768u16.to_be_bytes());
        let reply = [t[0], t[1], crc8(&t), rh[0], rh[1], crc8(&rh)];
        let mut s = Sht4x::new(
            Bus {
                reply,
                written: std::vec::Vec::new(),
            },
            ADDRESS,
        );
        let m = s.measure(&mut NoDelay).unwrap();
        assert!((m.temp_c - 25.0).abs() < 0.01);
        assert!((m.rh_pct - 56.5).abs() < 0.01);
        let mut bus = s.release();
        assert_eq!(bus.written, std::vec![0xFD]);
        bus.reply[5] ^= 1;
        let mut s = Sht4x::new(bus, ADDRESS);
        assert_eq!(s.measure(&mut NoDelay), Err(Error::Crc));
    }
}
