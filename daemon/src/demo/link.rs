//! The simulated devices' MQTT link: the firmware's own MQTT client
//! ([`meili_firmware::mqtt::Client`]) over a blocking TCP socket, driven from async code
//! through `spawn_blocking` (one packet exchange at a time, as on a device).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use meili_firmware::embedded_io::{ErrorKind, ErrorType, Read, Write};
use meili_firmware::mqtt::{Client, Will};

/// `embedded-io` over a std TCP stream (on a board: its network stack's socket).
pub struct Tcp(pub TcpStream);

impl ErrorType for Tcp {
    type Error = ErrorKind;
}

impl Read for Tcp {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        self.0.read(buf).map_err(|_| ErrorKind::Other)
    }
}

impl Write for Tcp {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.0.write(buf).map_err(|_| ErrorKind::Other)
    }
    fn flush(&mut self) -> Result<(), ErrorKind> {
        self.0.flush().map_err(|_| ErrorKind::Other)
    }
}

/// A device's session: connected, or not (reconnected on the next publish).
pub struct Link {
    broker: SocketAddr,
    client_id: String,
    keep_alive_s: u16,
    will: (String, Vec<u8>),
    client: Option<Client<Tcp>>,
}

impl Link {
    pub fn new(
        broker: SocketAddr,
        client_id: String,
        keep_alive_s: u16,
        will: (String, Vec<u8>),
    ) -> Link {
        Link {
            broker,
            client_id,
            keep_alive_s,
            will,
            client: None,
        }
    }

    /// Publish at QoS 1 (connecting first if needed); false if the broker did not acknowledge.
    pub async fn publish(&mut self, topic: String, payload: Vec<u8>, retain: bool) -> bool {
        let (broker, id, ka, will) = (
            self.broker,
            self.client_id.clone(),
            self.keep_alive_s,
            self.will.clone(),
        );
        let client = self.client.take();
        let r = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; payload.len() + topic.len() + 64];
            let mut c = match client {
                Some(c) => c,
                None => {
                    let s = TcpStream::connect_timeout(&broker, Duration::from_secs(5)).ok()?;
                    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
                    s.set_nodelay(true).ok()?;
                    let w = Will {
                        topic: &will.0,
                        payload: &will.1,
                    };
                    let mut cbuf = [0u8; 256];
                    Client::connect(Tcp(s), &id, ka, Some(w), &mut cbuf).ok()?
                }
            };
            c.publish(&topic, &payload, retain, &mut buf, &mut |_, _| {})
                .ok()?;
            Some(c)
        })
        .await;
        self.client = r.ok().flatten();
        self.client.is_some()
    }

    /// Leave cleanly (no will).
    pub async fn close(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = tokio::task::spawn_blocking(move || c.disconnect()).await;
        }
    }
}
