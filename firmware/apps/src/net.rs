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

/// A borrowed socket is a socket (a session over the modem for one connection).
impl<S: Socket> Socket for &mut S {
    async fn open(&mut self, host: &str, port: u16) -> Result<(), NetError> {
        S::open(self, host, port).await
    }
    async fn send(&mut self, data: &[u8]) -> Result<(), NetError> {
        S::send(self, data).await
    }
    async fn recv(
        &mut self,
        buf: &mut [u8],
        wait: embassy_time::Duration,
    ) -> Result<usize, NetError> {
        S::recv(self, buf, wait).await
    }
    async fn close(&mut self) {
        S::close(self).await
    }
    async fn rssi_dbm(&mut self) -> Option<i16> {
        S::rssi_dbm(self).await
    }
    async fn unix_time(&mut self) -> Option<i64> {
        S::unix_time(self).await
    }
}
