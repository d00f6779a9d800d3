use super::*;

/// The noise ×10 transmitter of DOMAIN.md §8.3: holding 0 = dB × 10.
struct X10 {
    db_x10: u16,
    address: u16,
}

impl Registers for X10 {
    fn input(&self, _: u16) -> Option<u16> {
        None
    }
    fn holding(&self, a: u16) -> Option<u16> {
        match a {
            0 => Some(self.db_x10),
            0x07D0 => Some(self.address),
            _ => None,
        }
    }
    fn check_write(&self, a: u16, v: u16) -> Result<(), Exception> {
        match (a, v) {
            (0x07D0, 1..=247) => Ok(()),
            (0x07D0, _) => Err(Exception::IllegalDataValue),
            _ => Err(Exception::IllegalDataAddress),
        }
    }
    fn write_holding(&mut self, a: u16, v: u16) -> Result<(), Exception> {
        self.check_write(a, v)?;
        self.address = v;
        Ok(())
    }
}

fn frame(body: &[u8]) -> std::vec::Vec<u8> {
    let mut f = body.to_vec();
    f.extend_from_slice(&crc16(body).to_le_bytes());
    f
}

#[test]
fn domain_query_and_reply_are_byte_exact() {
    // Query 01 03 00 00 00 01 84 0A → reply 01 03 02 02 92 38 89 (65.8 dB).
    let req = [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A];
    assert_eq!(crc16(&req[..6]).to_le_bytes(), [0x84, 0x0A]);
    let mut regs = X10 {
        db_x10: 658,
        address: 1,
    };
    let mut out = [0u8; 256];
    let n = respond(1, &req, &mut regs, &mut out).unwrap();
    assert_eq!(&out[..n], &[0x01, 0x03, 0x02, 0x02, 0x92, 0x38, 0x89]);
    assert_eq!(request_len(&req), Some(8));
}

#[test]
fn exceptions_and_silence() {
    let mut regs = X10 {
        db_x10: 658,
        address: 1,
    };
    let mut out = [0u8; 256];
    // Unmapped register → 01 83 02.
    let n = respond(1, &frame(&[1, 3, 0, 5, 0, 1]), &mut regs, &mut out).unwrap();
    assert_eq!(&out[..3], &[1, 0x83, 2]);
    assert_eq!(u16::from_le_bytes([out[3], out[4]]), crc16(&out[..3]));
    assert_eq!(n, 5);
    // Unknown function → 01 87 01 (illegal function).
    let n = respond(1, &frame(&[1, 7]), &mut regs, &mut out).unwrap();
    assert_eq!(&out[..n - 2], &[1, 0x87, 1]);
    // Count 0 → illegal value.
    respond(1, &frame(&[1, 3, 0, 0, 0, 0]), &mut regs, &mut out).unwrap();
    assert_eq!(out[2], 3);
    // Another unit, or a bad CRC: no answer at all.
    assert_eq!(
        respond(2, &frame(&[1, 3, 0, 0, 0, 1]), &mut regs, &mut out),
        None
    );
    let mut bad = frame(&[1, 3, 0, 0, 0, 1]);
    bad[7] ^= 1;
    assert_eq!(respond(1, &bad, &mut regs, &mut out), None);
}

#[test]
fn writes_single_and_multiple() {
    let mut regs = X10 {
        db_x10: 0,
        address: 1,
    };
    let mut out = [0u8; 256];
    let req = frame(&[1, 6, 0x07, 0xD0, 0, 9]);
    let n = respond(1, &req, &mut regs, &mut out).unwrap();
    assert_eq!(&out[..n], &req[..], "06 echoes the request");
    assert_eq!(regs.address, 9);
    let req = frame(&[9, 0x10, 0x07, 0xD0, 0, 1, 2, 0, 12]);
    assert_eq!(request_len(&req), Some(11));
    let n = respond(9, &req, &mut regs, &mut out).unwrap();
    assert_eq!(&out[..n - 2], &[9, 0x10, 0x07, 0xD0, 0, 1]);
    assert_eq!(regs.address, 12);
    let req = frame(&[12, 6, 0x07, 0xD0, 1, 0]);
    respond(12, &req, &mut regs, &mut out).unwrap();
    assert_eq!(&out[..3], &[12, 0x86, 3], "address 256 refused");
}

#[test]
fn unsupported_functions_get_exception_1_whatever_their_length() {
    let mut regs = X10 {
        db_x10: 658,
        address: 1,
    };
    let mut out = [0u8; 256];
    for body in [
        &[1u8, 0x01, 0, 0, 0, 8][..],                // read coils
        &[1, 0x02, 0, 0, 0, 8],                      // read discrete inputs
        &[1, 0x05, 0, 1, 0xFF, 0],                   // write single coil
        &[1, 0x0F, 0, 0, 0, 9, 2, 0xFF, 1],          // write multiple coils
        &[1, 0x2B, 0x0E, 1, 0],                      // read device identification
        &[1, 0x17, 0, 0, 0, 1, 0, 0, 0, 1, 2, 0, 5], // read/write multiple
    ] {
        let req = frame(body);
        assert_eq!(
            request_len(&req),
            Some(req.len()),
            "function {:#04x}",
            body[1]
        );
        let n = respond(1, &req, &mut regs, &mut out).expect("answered");
        assert_eq!(
            &out[..3],
            &[1, body[1] | 0x80, 1],
            "function {:#04x}",
            body[1]
        );
        assert_eq!(crc16(&out[..n - 2]).to_le_bytes(), [out[n - 2], out[n - 1]]);
    }
    // A user-defined code is delimited by the silence only; the frame is still answered.
    assert_eq!(request_len(&frame(&[1, 0x41, 7])), None);
    let n = respond(1, &frame(&[1, 0x41, 7]), &mut regs, &mut out).unwrap();
    assert_eq!(&out[..n - 2], &[1, 0xC1, 1]);
}

#[test]
fn broadcast_writes_are_executed_without_a_reply() {
    let mut regs = X10 {
        db_x10: 0,
        address: 1,
    };
    let mut out = [0u8; 256];
    assert_eq!(
        respond(1, &frame(&[0, 6, 0x07, 0xD0, 0, 7]), &mut regs, &mut out),
        None
    );
    assert_eq!(regs.address, 7);
    let req = frame(&[0, 0x10, 0x07, 0xD0, 0, 1, 2, 0, 8]);
    assert_eq!(respond(7, &req, &mut regs, &mut out), None);
    assert_eq!(regs.address, 8);
    // A broadcast read is not answered (every slave would talk at once).
    assert_eq!(
        respond(8, &frame(&[0, 3, 0, 0, 0, 1]), &mut regs, &mut out),
        None
    );
}

#[test]
fn a_refused_multiple_write_writes_nothing() {
    let mut regs = X10 {
        db_x10: 0,
        address: 1,
    };
    let mut out = [0u8; 256];
    // 0x07D0 ← 5 would be fine, 0x07D1 is not mapped: exception 2 and the address stays 1.
    let req = frame(&[1, 0x10, 0x07, 0xD0, 0, 2, 4, 0, 5, 0, 6]);
    let n = respond(1, &req, &mut regs, &mut out).unwrap();
    assert_eq!(&out[..n - 2], &[1, 0x90, 2]);
    assert_eq!(regs.address, 1);
}

#[test]
fn f32_register_order() {
    assert_eq!(f32_words(1.0), [0x3F80, 0x0000]);
    assert_eq!(f32_words(-12.5), [0xC148, 0x0000]);
}

#[test]
fn tcp_frames_wrap_the_same_slave() {
    let mut regs = X10 {
        db_x10: 658,
        address: 1,
    };
    let mut out = [0u8; 260];
    // Transaction 0x1234, unit 1, read holding 0 × 1.
    let req = [0x12, 0x34, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1];
    let n = respond_tcp(&req, |u| u == 1, &mut regs, &mut out).unwrap();
    assert_eq!(&out[..n], &[0x12, 0x34, 0, 0, 0, 5, 1, 3, 2, 0x02, 0x92]);
    assert_eq!(respond_tcp(&req, |u| u == 2, &mut regs, &mut out), None);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// `body` with its CRC appended (low byte first), as on the wire.
    fn framed(body: &[u8]) -> Vec<u8> {
        let mut v = body.to_vec();
        v.extend_from_slice(&crc16(body).to_le_bytes());
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        /// Any bytes: framing and answering never panic; a frame with a bad CRC is never answered.
        #[test]
        fn random_rtu_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = request_len(&bytes);
            let mut regs = X10 { db_x10: 1, address: 1 };
            let mut out = [0u8; 256];
            let crc_ok = bytes.len() >= 4 && {
                let n = bytes.len();
                crc16(&bytes[..n - 2]).to_le_bytes() == [bytes[n - 2], bytes[n - 1]]
            };
            let r = respond(1, &bytes, &mut regs, &mut out);
            if !crc_ok {
                prop_assert_eq!(r, None);
            }
        }

        /// Well-framed requests of any function and content to our unit: every answer is a
        /// complete frame with a valid CRC, echoing unit and function (or function | 0x80).
        #[test]
        fn framed_requests_get_well_formed_answers(
            function in any::<u8>(),
            body in prop::collection::vec(any::<u8>(), 0..260),
        ) {
            let mut req = vec![1u8, function];
            req.extend_from_slice(&body);
            let req = framed(&req);
            let mut regs = X10 { db_x10: 1, address: 1 };
            let mut out = [0u8; 256];
            if let Some(n) = respond(1, &req, &mut regs, &mut out) {
                prop_assert!((5..=256).contains(&n));
                prop_assert_eq!(out[0], 1);
                prop_assert!(out[1] == function || out[1] == function | 0x80);
                prop_assert_eq!(crc16(&out[..n - 2]).to_le_bytes(), [out[n - 2], out[n - 1]]);
            }
        }

        /// Modbus TCP frames of any bytes never panic; answers carry the request's transaction.
        #[test]
        fn random_tcp_frames(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut regs = X10 { db_x10: 1, address: 1 };
            let mut out = [0u8; 260];
            if let Some(n) = respond_tcp(&bytes, |u| u == 1, &mut regs, &mut out) {
                prop_assert!(n >= 9);
                prop_assert_eq!(&out[..2], &bytes[..2]);
            }
        }
    }
}
