//! A small MQTT 3.1.1 client for the devices (no_std, no allocator), over any `embedded-io`
//! transport: CONNECT with a retained last will, QoS 1 PUBLISH waiting for its PUBACK,
//! SUBSCRIBE (the `cmd` topic), PINGREQ, DISCONNECT; incoming PUBLISH packets are handed to the
//! caller. Packets are encoded into and decoded from caller-provided buffers.

use embedded_io::{Read, Write};

/// Errors: the transport's own errors apart from the protocol's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<E> {
    Io(E),
    /// The packet does not fit the buffer.
    BufferTooSmall,
    /// The broker closed the connection.
    Closed,
    /// A malformed or unexpected packet.
    Protocol,
    /// CONNACK with a non-zero return code.
    Refused(u8),
}

/// A retained last will (CONTRACT §2: `{"v":1,"online":false}` on the status topic).
#[derive(Debug, Clone, Copy)]
pub struct Will<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
}

struct Out<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Out<'_> {
    fn put(&mut self, b: &[u8]) -> Option<()> {
        let end = self.at.checked_add(b.len())?;
        self.buf.get_mut(self.at..end)?.copy_from_slice(b);
        self.at = end;
        Some(())
    }
    fn str(&mut self, s: &[u8]) -> Option<()> {
        self.put(&u16::try_from(s.len()).ok()?.to_be_bytes())?;
        self.put(s)
    }
}

/// Write fixed header + variable part: `body` fills the bytes after the header.
fn packet(buf: &mut [u8], first: u8, body: impl Fn(&mut Out<'_>) -> Option<()>) -> Option<usize> {
    // Measure the body in a scratch pass over the same buffer (after a 5-byte header room).
    let room = 5;
    let len = {
        let (_, tail) = buf.split_at_mut(room.min(buf.len()));
        let mut o = Out { buf: tail, at: 0 };
        body(&mut o)?;
        o.at
    };
    let mut header = [0u8; 5];
    header[0] = first;
    let mut n = 1;
    let mut rem = len;
    loop {
        let mut byte = (rem % 128) as u8;
        rem /= 128;
        if rem > 0 {
            byte |= 0x80;
        }
        header[n] = byte;
        n += 1;
        if rem == 0 || n == 5 {
            break;
        }
    }
    if rem > 0 {
        return None;
    }
    buf.copy_within(room..room + len, n);
    buf.get_mut(..n)?.copy_from_slice(&header[..n]);
    Some(n + len)
}

/// CONNECT (clean session, keep-alive in seconds, optional will at QoS 1 retained).
pub fn connect(
    buf: &mut [u8],
    client_id: &str,
    keep_alive_s: u16,
    will: Option<Will<'_>>,
) -> Option<usize> {
    connect_with(
        buf,
        &Connect {
            client_id,
            keep_alive_s,
            will,
            login: None,
            clean_session: true,
        },
    )
}

/// What a CONNECT carries.
#[derive(Debug, Clone, Copy)]
pub struct Connect<'a> {
    pub client_id: &'a str,
    pub keep_alive_s: u16,
    /// Retained, QoS 1.
    pub will: Option<Will<'a>>,
    /// Username and password.
    pub login: Option<(&'a str, &'a str)>,
    /// `false`: the broker keeps the session (subscriptions, queued QoS 1 commands) across
    /// reconnects.
    pub clean_session: bool,
}

/// CONNECT with every option.
pub fn connect_with(buf: &mut [u8], c: &Connect<'_>) -> Option<usize> {
    packet(buf, 0x10, |o| {
        o.str(b"MQTT")?;
        let mut flags = if c.clean_session { 0x02 } else { 0 };
        if c.will.is_some() {
            flags |= 0x04 | 0x08 | 0x20;
        }
        if c.login.is_some() {
            flags |= 0x80 | 0x40;
        }
        o.put(&[4, flags])?;
        o.put(&c.keep_alive_s.to_be_bytes())?;
        o.str(c.client_id.as_bytes())?;
        if let Some(w) = c.will {
            o.str(w.topic.as_bytes())?;
            o.str(w.payload)?;
        }
        if let Some((user, pass)) = c.login {
            o.str(user.as_bytes())?;
            o.str(pass.as_bytes())?;
        }
        Some(())
    })
}

/// PUBLISH at QoS 1 with packet id `pid`.
pub fn publish(
    buf: &mut [u8],
    topic: &str,
    payload: &[u8],
    pid: u16,
    retain: bool,
) -> Option<usize> {
    packet(buf, 0x32 | u8::from(retain), |o| {
        o.str(topic.as_bytes())?;
        o.put(&pid.to_be_bytes())?;
        o.put(payload)
    })
}

/// SUBSCRIBE to one topic at QoS 1.
pub fn subscribe(buf: &mut [u8], topic: &str, pid: u16) -> Option<usize> {
    packet(buf, 0x82, |o| {
        o.put(&pid.to_be_bytes())?;
        o.str(topic.as_bytes())?;
        o.put(&[1])
    })
}

pub const PINGREQ: [u8; 2] = [0xC0, 0x00];
pub const DISCONNECT: [u8; 2] = [0xE0, 0x00];

pub fn puback(pid: u16) -> [u8; 4] {
    let p = pid.to_be_bytes();
    [0x40, 0x02, p[0], p[1]]
}

/// A packet from the broker.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    ConnAck {
        code: u8,
    },
    PubAck {
        pid: u16,
    },
    SubAck {
        pid: u16,
        /// Granted QoS (0–2), or 0x80: refused.
        code: u8,
    },
    PingResp,
    Publish {
        topic: &'a str,
        payload: &'a [u8],
        pid: Option<u16>,
    },
    Other(u8),
}

/// Decode one packet from `b` (which holds exactly one packet).
pub fn decode(b: &[u8]) -> Option<Packet<'_>> {
    let (kind, flags) = (b.first()? >> 4, b.first()? & 0x0F);
    let mut i = 1;
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let byte = *b.get(i)?;
        len |= usize::from(byte & 0x7F) << shift;
        i += 1;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 21 {
            return None;
        }
    }
    let body = b.get(i..i + len)?;
    let word = |at: usize| {
        body.get(at..at + 2)
            .map(|w| u16::from_be_bytes([w[0], w[1]]))
    };
    Some(match kind {
        2 => Packet::ConnAck {
            code: *body.get(1)?,
        },
        4 => Packet::PubAck { pid: word(0)? },
        9 => Packet::SubAck {
            pid: word(0)?,
            code: *body.get(2)?,
        },
        13 => Packet::PingResp,
        3 => {
            let tlen = usize::from(word(0)?);
            let topic = core::str::from_utf8(body.get(2..2 + tlen)?).ok()?;
            let qos = (flags >> 1) & 3;
            let (pid, rest) = if qos > 0 {
                (Some(word(2 + tlen)?), 4 + tlen)
            } else {
                (None, 2 + tlen)
            };
            Packet::Publish {
                topic,
                payload: body.get(rest..)?,
                pid,
            }
        }
        k => Packet::Other(k),
    })
}

/// A device's connection to its broker.
pub struct Client<T> {
    io: T,
    next_pid: u16,
}

impl<T: Read + Write> Client<T> {
    /// Send CONNECT on an open transport and wait for CONNACK.
    pub fn connect(
        io: T,
        client_id: &str,
        keep_alive_s: u16,
        will: Option<Will<'_>>,
        buf: &mut [u8],
    ) -> Result<Self, Error<T::Error>> {
        let mut c = Client { io, next_pid: 1 };
        let n = connect(buf, client_id, keep_alive_s, will).ok_or(Error::BufferTooSmall)?;
        c.send(&buf[..n])?;
        let n = c.read_packet(buf)?;
        match decode(&buf[..n]) {
            Some(Packet::ConnAck { code: 0 }) => Ok(c),
            Some(Packet::ConnAck { code }) => Err(Error::Refused(code)),
            _ => Err(Error::Protocol),
        }
    }

    pub fn release(self) -> T {
        self.io
    }

    fn send(&mut self, b: &[u8]) -> Result<(), Error<T::Error>> {
        self.io.write_all(b).map_err(Error::Io)?;
        self.io.flush().map_err(Error::Io)
    }

    /// Read one whole packet into `buf`; returns its length.
    pub fn read_packet(&mut self, buf: &mut [u8]) -> Result<usize, Error<T::Error>> {
        let mut at = 0;
        let mut need = 2;
        loop {
            while at < need {
                let dst = buf.get_mut(at..need).ok_or(Error::BufferTooSmall)?;
                let n = self.io.read(dst).map_err(Error::Io)?;
                if n == 0 {
                    return Err(Error::Closed);
                }
                at += n;
            }
            // Remaining length complete?
            let (mut len, mut shift, mut i) = (0usize, 0, 1);
            loop {
                let Some(&byte) = buf.get(i).filter(|_| i < at) else {
                    need = at + 1;
                    break;
                };
                len |= usize::from(byte & 0x7F) << shift;
                i += 1;
                if byte & 0x80 == 0 {
                    need = i + len;
                    if at >= need {
                        return Ok(need);
                    }
                    break;
                }
                shift += 7;
                if shift > 21 {
                    return Err(Error::Protocol);
                }
            }
        }
    }

    /// Publish at QoS 1 and wait for its PUBACK. Incoming PUBLISH packets met meanwhile are
    /// acknowledged and passed to `incoming(topic, payload)`.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        retain: bool,
        buf: &mut [u8],
        incoming: &mut dyn FnMut(&str, &[u8]),
    ) -> Result<(), Error<T::Error>> {
        let pid = self.next_pid;
        self.next_pid = self.next_pid.checked_add(1).unwrap_or(1);
        let n = publish(buf, topic, payload, pid, retain).ok_or(Error::BufferTooSmall)?;
        self.send(&buf[..n])?;
        self.wait(
            buf,
            incoming,
            |p| matches!(p, Packet::PubAck { pid: x } if *x == pid),
        )
    }

    /// Subscribe (e.g. to the device's `cmd` topic) and wait for the SUBACK.
    pub fn subscribe(
        &mut self,
        topic: &str,
        buf: &mut [u8],
        incoming: &mut dyn FnMut(&str, &[u8]),
    ) -> Result<(), Error<T::Error>> {
        let pid = self.next_pid;
        self.next_pid = self.next_pid.checked_add(1).unwrap_or(1);
        let n = subscribe(buf, topic, pid).ok_or(Error::BufferTooSmall)?;
        self.send(&buf[..n])?;
        self.wait(
            buf,
            incoming,
            |p| matches!(p, Packet::SubAck { pid: x, code } if *x == pid && *code < 0x80),
        )
    }

    pub fn ping(&mut self) -> Result<(), Error<T::Error>> {
        self.send(&PINGREQ)
    }

    /// Leave cleanly (the broker then does not publish the will).
    pub fn disconnect(mut self) -> Result<T, Error<T::Error>> {
        self.send(&DISCONNECT)?;
        Ok(self.io)
    }

    fn wait(
        &mut self,
        buf: &mut [u8],
        incoming: &mut dyn FnMut(&str, &[u8]),
        done: impl Fn(&Packet<'_>) -> bool,
    ) -> Result<(), Error<T::Error>> {
        loop {
            let n = self.read_packet(buf)?;
            let p = decode(&buf[..n]).ok_or(Error::Protocol)?;
            if done(&p) {
                return Ok(());
            }
            if let Packet::Publish {
                topic,
                payload,
                pid,
            } = p
            {
                incoming(topic, payload);
                if let Some(pid) = pid {
                    self.send(&puback(pid))?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_frame_is_byte_exact() {
        let mut buf = [0u8; 128];
        let n = connect(&mut buf, "n01", 30, None).unwrap();
        assert_eq!(
            &buf[..n],
            &[0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 30, 0, 3, b'n', b'0', b'1']
        );
        let will = Will {
            topic: "s",
            payload: b"{}",
        };
        let n = connect(&mut buf, "n", 30, Some(will)).unwrap();
        // Flags: clean session, will, will QoS 1, will retain.
        assert_eq!(buf[9], 0x2E);
        assert_eq!(&buf[n - 7..n], &[0, 1, b's', 0, 2, b'{', b'}']);
    }

    #[test]
    fn publish_round_trips_and_long_lengths_use_two_bytes() {
        let mut buf = [0u8; 512];
        let payload = [b'x'; 200];
        let n = publish(
            &mut buf,
            "meili/v1/t/noise/n1/telemetry",
            &payload,
            7,
            false,
        )
        .unwrap();
        assert_eq!(buf[0], 0x32);
        assert_eq!(
            &buf[1..3],
            &[0xE9, 0x01],
            "remaining length 2 + 29 + 2 + 200 = 233 = 0xE9 0x01"
        );
        match decode(&buf[..n]) {
            Some(Packet::Publish {
                topic,
                payload: p,
                pid,
            }) => {
                assert_eq!(
                    (topic, p.len(), pid),
                    ("meili/v1/t/noise/n1/telemetry", 200, Some(7))
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            publish(&mut [0u8; 20], "t", &payload, 1, false).is_none(),
            "does not fit"
        );
        assert_eq!(decode(&[0x40, 2, 0, 7]), Some(Packet::PubAck { pid: 7 }));
        assert_eq!(decode(&[0x20, 2, 0, 5]), Some(Packet::ConnAck { code: 5 }));
    }
}
