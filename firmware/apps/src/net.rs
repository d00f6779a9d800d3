//! The device's one network socket, whatever carries it: the 4G module (`modem.rs`) today, an
//! Ethernet chip (W5500 with `embassy-net-wiznet`) or another module tomorrow.

use embassy_time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetError {
    /// The module did not answer in time.
    Timeout,
    /// The module answered ERROR / +CME ERROR.
    Refused,
    /// The socket is closed (by the peer or the network).
    Closed,
    /// No network registration or data context.
    NoNetwork,
    /// The module stays silent even after power cycles: only a reset helps.
    Dead,
}

// Single-threaded executor: the futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Socket {
    /// Bring the link up (attach, data context) and open a TCP connection.
    async fn open(&mut self, host: &str, port: u16) -> Result<(), NetError>;
    /// Send all of `data`.
    async fn send(&mut self, data: &[u8]) -> Result<(), NetError>;
    /// Whatever arrives within `wait`; `Ok(0)` when nothing did.
    async fn recv(&mut self, buf: &mut [u8], wait: Duration) -> Result<usize, NetError>;
    /// Close the connection (best effort).
    async fn close(&mut self);
    /// Signal strength, dBm.
    async fn rssi_dbm(&mut self) -> Option<i16>;
    /// Network time, UNIX seconds.
    async fn unix_time(&mut self) -> Option<i64>;
}
