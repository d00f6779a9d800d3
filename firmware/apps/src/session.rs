//! One persistent MQTT session over the device's socket: CONNECT with username/password and
//! the retained last will, the `cmd` subscription checked in its SUBACK, retained
//! `online:true` after CONNACK, QoS 1 publishes that wait for their PUBACK, PINGREQ when idle
//! and a PINGRESP timeout. Any failure ends the session; the caller reconnects with backoff
//! and publishes again what was not acknowledged.

use embassy_time::{Duration, Instant};
use heapless::{String, Vec};
use meili_firmware::mqtt::{self, Connect, Packet, Will};

use crate::net::{NetError, Socket};

pub const KEEP_ALIVE_S: u16 = 60;
const ANSWER: Duration = Duration::from_secs(10);
pub const OFFLINE: &[u8] = br#"{"v":1,"online":false}"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    Net(NetError),
    /// CONNACK refused (code), or SUBACK refused.
    Refused(u8),
    /// No answer in time (PUBACK, CONNACK, SUBACK, PINGRESP).
    NoAnswer,
    Protocol,
}

impl From<NetError> for SessionError {
    fn from(e: NetError) -> Self {
        SessionError::Net(e)
    }
}

pub struct Session<S> {
    pub sock: S,
    root: String<80>,
    pid: u16,
    rx: Vec<u8, 1536>,
    last_tx: Instant,
    ping_sent: Option<Instant>,
    /// Commands received on `cmd` (the last one's payload).
    pub commands: u32,
}

impl<S: Socket> Session<S> {
    pub fn new(sock: S) -> Self {
        Session {
            sock,
            root: String::new(),
            pid: 1,
            rx: Vec::new(),
            last_tx: Instant::now(),
            ping_sent: None,
            commands: 0,
        }
    }

    pub fn topic(&self, leaf: &str) -> String<96> {
        let mut t = String::new();
        let _ = t.push_str(&self.root);
        let _ = t.push('/');
        let _ = t.push_str(leaf);
        t
    }

    fn next_pid(&mut self) -> u16 {
        self.pid = self.pid.checked_add(1).unwrap_or(1);
        self.pid
    }

    async fn send(&mut self, b: &[u8]) -> Result<(), SessionError> {
        self.sock.send(b).await?;
        self.last_tx = Instant::now();
        Ok(())
    }

    /// Open the socket and the session; on success the device is `online:true`.
    pub async fn connect(
        &mut self,
        cfg: &crate::config::Config,
        kind: &str,
        status: &[u8],
    ) -> Result<(), SessionError> {
        self.rx.clear();
        self.ping_sent = None;
        self.root.clear();
        let _ = core::fmt::write(
            &mut self.root,
            format_args!("meili/v1/{}/{}/{}", cfg.site, kind, cfg.id),
        );
        self.sock.open(&cfg.broker_host, cfg.broker_port).await?;
        let will_topic = self.topic("status");
        let login =
            (!cfg.username.is_empty()).then_some((cfg.username.as_str(), cfg.password.as_str()));
        let mut buf = [0u8; 384];
        let n = mqtt::connect_with(
            &mut buf,
            &Connect {
                client_id: &cfg.id,
                keep_alive_s: KEEP_ALIVE_S,
                will: Some(Will {
                    topic: &will_topic,
                    payload: OFFLINE,
                }),
                login,
                clean_session: false,
            },
        )
        .ok_or(SessionError::Protocol)?;
        self.send(&buf[..n]).await?;
        match self.wait(|p| matches!(p, Packet::ConnAck { .. })).await? {
            Some(0) => {}
            Some(code) => return Err(SessionError::Refused(code)),
            None => return Err(SessionError::Protocol),
        }
        let cmd = self.topic("cmd");
        let pid = self.next_pid();
        let n = mqtt::subscribe(&mut buf, &cmd, pid).ok_or(SessionError::Protocol)?;
        self.send(&buf[..n]).await?;
        match self
            .wait(|p| matches!(p, Packet::SubAck { pid: x, .. } if *x == pid))
            .await?
        {
            Some(c) if c < 0x80 => {}
            Some(c) => return Err(SessionError::Refused(c)),
            None => return Err(SessionError::Protocol),
        }
        self.publish("status", status, true).await
    }

    /// QoS 1: returns once the broker's PUBACK arrived.
    pub async fn publish(
        &mut self,
        leaf: &str,
        payload: &[u8],
        retain: bool,
    ) -> Result<(), SessionError> {
        let topic = self.topic(leaf);
        let pid = self.next_pid();
        let mut buf = [0u8; 2304];
        let n =
            mqtt::publish(&mut buf, &topic, payload, pid, retain).ok_or(SessionError::Protocol)?;
        self.send(&buf[..n]).await?;
        self.wait(|p| matches!(p, Packet::PubAck { pid: x } if *x == pid))
            .await?;
        Ok(())
    }

    /// Wait up to `wait` for traffic: commands are acknowledged, PINGREQ goes out when the
    /// line was idle half the keep-alive, and a missing PINGRESP ends the session.
    pub async fn idle(&mut self, wait: Duration) -> Result<(), SessionError> {
        if let Some(sent) = self.ping_sent {
            if sent.elapsed() > ANSWER {
                crate::log!("mqtt: no PINGRESP in {} s", ANSWER.as_secs());
                return Err(SessionError::NoAnswer);
            }
        } else if self.last_tx.elapsed() >= Duration::from_secs(u64::from(KEEP_ALIVE_S) / 2) {
            self.send(&mqtt::PINGREQ).await?;
            self.ping_sent = Some(Instant::now());
        }
        self.pump(wait, &mut |_| false).await?;
        Ok(())
    }

    /// Read packets until `want` matches one (returning its code: CONNACK / SUBACK code, 0
    /// for others) or `ANSWER` passes.
    async fn wait(
        &mut self,
        want: impl Fn(&Packet<'_>) -> bool,
    ) -> Result<Option<u8>, SessionError> {
        let until = Instant::now() + ANSWER;
        let mut found = None;
        let mut check = |p: &Packet<'_>| {
            if want(p) {
                found = Some(match p {
                    Packet::ConnAck { code } => *code,
                    Packet::SubAck { code, .. } => *code,
                    _ => 0,
                });
                true
            } else {
                false
            }
        };
        while Instant::now() < until {
            let left = until.saturating_duration_since(Instant::now());
            if self.pump(left, &mut check).await? {
                return Ok(found);
            }
        }
        Err(SessionError::NoAnswer)
    }

    /// Receive for up to `wait` and handle every complete packet; true once `stop` matched.
    async fn pump(
        &mut self,
        wait: Duration,
        stop: &mut dyn FnMut(&Packet<'_>) -> bool,
    ) -> Result<bool, SessionError> {
        let mut chunk = [0u8; 512];
        let free = (self.rx.capacity() - self.rx.len()).min(chunk.len());
        let n = self.sock.recv(&mut chunk[..free], wait).await?;
        let _ = self.rx.extend_from_slice(&chunk[..n]);
        let mut matched = false;
        while let Some(len) = packet_len(&self.rx) {
            if len > self.rx.capacity() {
                return Err(SessionError::Protocol);
            }
            if len > self.rx.len() {
                break;
            }
            let mut ack = None;
            match mqtt::decode(&self.rx[..len]) {
                Some(Packet::PingResp) => self.ping_sent = None,
                Some(Packet::Publish { pid, payload, .. }) => {
                    self.commands += 1;
                    crate::log!("mqtt: command ({} bytes)", payload.len());
                    crate::station::command(payload);
                    ack = pid;
                }
                Some(p) => matched |= stop(&p),
                None => return Err(SessionError::Protocol),
            }
            self.rx.rotate_left(len);
            self.rx.truncate(self.rx.len() - len);
            if let Some(pid) = ack {
                self.send(&mqtt::puback(pid)).await?;
            }
        }
        Ok(matched)
    }
}

/// Total length of the packet at the start of `b`, once its header is there.
fn packet_len(b: &[u8]) -> Option<usize> {
    let mut len = 0usize;
    for i in 0..4 {
        let byte = *b.get(1 + i)?;
        len |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(2 + i + len);
        }
    }
    Some(usize::MAX)
}
