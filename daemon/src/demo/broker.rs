//! The embedded MQTT broker (rumqttd) for `meilid demo`: 3.1.1 on one port, 5 on the next.

use std::collections::HashMap;
use std::net::SocketAddr;

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

fn listener(name: &str, listen: SocketAddr) -> ServerSettings {
    ServerSettings {
        name: name.into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 1024 * 1024,
            max_inflight_count: 1000,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    }
}

/// Start the broker on its own thread (rumqttd blocks and has no shutdown API; the thread ends
/// with the process). Returns once the 3.1.1 port accepts connections.
pub fn start(v4: SocketAddr, v5: SocketAddr) -> std::io::Result<()> {
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: 10_000,
            max_outgoing_packet_count: 1000,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 10,
            ..RouterConfig::default()
        },
        v4: Some(HashMap::from([("1".to_string(), listener("v4", v4))])),
        v5: Some(HashMap::from([("1".to_string(), listener("v5", v5))])),
        ..Config::default()
    };
    std::thread::Builder::new()
        .name("rumqttd".into())
        .spawn(move || {
            let mut broker = Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "Embedded MQTT broker stopped.");
            }
        })?;
    for _ in 0..100 {
        if std::net::TcpStream::connect(v4).is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("embedded broker did not listen on {v4}"),
    ))
}
