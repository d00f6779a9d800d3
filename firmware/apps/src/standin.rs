//! Stand-ins for the toilet and streetlight images, which are not yet ported to a board:
//! their inputs are read through `core::hint::black_box` so that the size figures include the
//! code a board runs, and their network is a stand-in socket.

use core::hint::black_box;

/// Stand-in for a board input (a peripheral register read on real hardware).
pub fn input<T>(v: T) -> T {
    black_box(v)
}

/// Stand-in for the board's network link (a TCP socket of its modem or Ethernet stack).
pub struct Link;

impl meili_firmware::embedded_io::ErrorType for Link {
    type Error = meili_firmware::embedded_io::ErrorKind;
}

impl meili_firmware::embedded_io::Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = black_box(buf.len());
        for b in buf.iter_mut().take(n) {
            *b = black_box(0);
        }
        Ok(n)
    }
}

impl meili_firmware::embedded_io::Write for Link {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        Ok(black_box(buf).len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Publish one payload at QoS 1 over a fresh session with the device's last will.
pub fn publish(client_id: &str, root: &str, payload: &[u8], buf: &mut [u8]) -> bool {
    use meili_firmware::mqtt::{Client, Will};
    let mut topic: heapless::String<96> = heapless::String::new();
    let will_topic = {
        let mut t: heapless::String<96> = heapless::String::new();
        let _ = t.push_str(root);
        let _ = t.push_str("/status");
        t
    };
    let will = Will {
        topic: &will_topic,
        payload: br#"{"v":1,"online":false}"#,
    };
    let Ok(mut c) = Client::connect(Link, client_id, 60, Some(will), buf) else {
        return false;
    };
    let _ = topic.push_str(root);
    let _ = topic.push_str("/telemetry");
    let mut on_cmd = |_: &str, p: &[u8]| {
        black_box(p);
    };
    c.publish(&topic, payload, false, buf, &mut on_cmd).is_ok()
}

/// After a successful publish: upload what the offline buffer kept, oldest first, as JSON
/// arrays, removing each batch only once the broker acknowledged it.
pub fn upload_backlog<const N: usize>(
    offline: &mut meili_firmware::app::offline::Offline<N>,
    client_id: &str,
    root: &str,
    buf: &mut [u8],
    net: &mut [u8],
) {
    while !offline.is_empty() {
        let Ok((n, k)) = offline.batch(8, buf) else {
            return;
        };
        if !publish(client_id, root, &buf[..n], net) {
            return;
        }
        offline.commit(k);
    }
}

/// Report one reading: publish it; on success upload the offline backlog, otherwise keep the
/// reading in the offline buffer.
pub fn report<const N: usize>(
    r: meili_firmware::Reading,
    offline: &mut meili_firmware::app::offline::Offline<N>,
    client_id: &str,
    root: &str,
) {
    let (mut buf, mut net) = ([0u8; 512], [0u8; 768]);
    let sent = match meili_firmware::payload::encode(&r, &mut buf) {
        Ok(n) => publish(client_id, root, &buf[..n], &mut net),
        Err(_) => false,
    };
    if sent {
        let mut batch = [0u8; 2048];
        upload_backlog(offline, client_id, root, &mut batch, &mut net);
    } else {
        offline.push(r);
    }
}
