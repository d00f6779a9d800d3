//! TLS 1.3 to the broker (`set tls on`): embedded-tls over the modem's socket, the broker's
//! P-256 certificate verified against the CA provisioned on the console (its PEM pasted
//! there, kept in flash) and the broker host's name, AES-128-GCM. Keys come from a ChaCha20
//! generator seeded by the board's hardware RNG (STM32F407), or, on the emulated board that
//! has none, by a seed kept in flash and stirred with boot timing (test-grade only).

use embassy_time::{with_timeout, Duration, Instant};
use embedded_tls::pki::CertVerifier;
use embedded_tls::{
    Aes128GcmSha256, Certificate, CryptoProvider, TlsClock, TlsConfig, TlsConnection, TlsContext,
    TlsError, TlsVerifier,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};

use crate::net::{NetError, Socket};

/// A TLS record is at most 16 KiB of data plus its header and tag.
pub const READ_BUF: usize = 16_640;
/// What this device sends fits in 4 KiB records (MQTT packets of at most 2.3 KiB).
pub const WRITE_BUF: usize = 4_096;
pub use crate::config::CA_MAX;

/// Certificate validity needs the time: the station's clock (RTC or network).
pub struct StationClock;

impl TlsClock for StationClock {
    fn now() -> Option<u64> {
        crate::station::unix_now().and_then(|t| u64::try_from(t).ok())
    }
}

type Verifier<'a> = CertVerifier<'a, Aes128GcmSha256, StationClock, 1024>;

pub struct Provider<'a> {
    rng: ChaCha20Rng,
    verifier: Verifier<'a>,
}

impl<'a> Provider<'a> {
    pub fn new(seed: [u8; 32], ca_der: &'a [u8]) -> Self {
        Provider {
            rng: ChaCha20Rng::from_seed(seed),
            verifier: CertVerifier::new(Certificate::X509(ca_der)),
        }
    }
}

impl CryptoProvider for Provider<'_> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = &'static [u8];

    fn rng(&mut self) -> impl embedded_tls::CryptoRngCore {
        &mut self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
        Ok(&mut self.verifier)
    }
}

/// The modem's socket as the byte stream embedded-tls reads and writes.
pub struct SocketIo<'s, S: Socket>(pub &'s mut S);

#[derive(Debug)]
pub struct IoError(pub NetError);

impl core::fmt::Display for IoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "socket: {:?}", self.0)
    }
}

impl core::error::Error for IoError {}

impl embedded_io_async::Error for IoError {
    fn kind(&self) -> embedded_io_async::ErrorKind {
        embedded_io_async::ErrorKind::Other
    }
}

impl<S: Socket> embedded_io_async::ErrorType for SocketIo<'_, S> {
    type Error = IoError;
}

impl<S: Socket> embedded_io_async::Read for SocketIo<'_, S> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        loop {
            match self.0.recv(buf, Duration::from_secs(30)).await {
                Ok(0) => continue,
                Ok(n) => return Ok(n),
                Err(e) => return Err(IoError(e)),
            }
        }
    }
}

impl<S: Socket> embedded_io_async::Write for SocketIo<'_, S> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, IoError> {
        self.0.send(buf).await.map_err(IoError)?;
        Ok(buf.len())
    }
    async fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

/// An open TLS connection, used by the MQTT session like a plain socket.
pub struct TlsLink<'a, S: Socket> {
    pub conn: TlsConnection<'a, SocketIo<'a, S>, Aes128GcmSha256>,
}

/// Open TLS over `sock` (already connected by TCP), verifying `host` against `ca_der`.
pub async fn open<'a, S: Socket>(
    sock: &'a mut S,
    read_buf: &'a mut [u8],
    write_buf: &'a mut [u8],
    host: &'a str,
    ca_der: &'a [u8],
    seed: [u8; 32],
) -> Result<TlsLink<'a, S>, TlsError> {
    let mut conn = TlsConnection::new(SocketIo(sock), read_buf, write_buf);
    let config = TlsConfig::new().with_server_name(host);
    let handshake = conn.open(TlsContext::new(&config, Provider::new(seed, ca_der)));
    match with_timeout(Duration::from_secs(60), handshake).await {
        Ok(r) => r?,
        Err(_) => return Err(TlsError::Io(embedded_io_async::ErrorKind::TimedOut)),
    }
    Ok(TlsLink { conn })
}

impl<S: Socket> Socket for TlsLink<'_, S> {
    async fn open(&mut self, _: &str, _: u16) -> Result<(), NetError> {
        Ok(())
    }
    async fn send(&mut self, data: &[u8]) -> Result<(), NetError> {
        let mut sent = 0;
        while sent < data.len() {
            sent += self
                .conn
                .write(&data[sent..])
                .await
                .map_err(|_| NetError::Closed)?;
        }
        self.conn.flush().await.map_err(|_| NetError::Closed)
    }
    async fn recv(&mut self, buf: &mut [u8], wait: Duration) -> Result<usize, NetError> {
        match with_timeout(wait, self.conn.read(buf)).await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(_)) => Err(NetError::Closed),
            Err(_) => Ok(0),
        }
    }
    async fn close(&mut self) {}
    async fn rssi_dbm(&mut self) -> Option<i16> {
        None
    }
    async fn unix_time(&mut self) -> Option<i64> {
        None
    }
}

/// A 32-byte seed: the board's hardware RNG when it has one; otherwise the seed kept in flash
/// stirred with the boot's timing, and the next seed written back.
pub async fn seed(previous: Option<[u8; 32]>) -> ([u8; 32], bool) {
    let mut out = [0u8; 32];
    if crate::board::entropy(&mut out).await {
        return (out, true);
    }
    let mut h = Sha256::new();
    h.update(previous.unwrap_or([0x5A; 32]));
    h.update(Instant::now().as_ticks().to_le_bytes());
    h.update(crate::stack::peak_bytes().to_le_bytes());
    out.copy_from_slice(&h.finalize());
    (out, false)
}

/// Collects a PEM certificate pasted line by line on the console.
pub struct PemPaste {
    active: bool,
    b64: heapless::Vec<u8, { CA_MAX * 4 / 3 + 8 }>,
    der: [u8; CA_MAX],
}

impl Default for PemPaste {
    fn default() -> Self {
        PemPaste {
            active: false,
            b64: heapless::Vec::new(),
            der: [0; CA_MAX],
        }
    }
}

pub enum Pem {
    /// Not part of a certificate.
    No,
    /// Taken; more lines expected.
    More,
    /// The certificate is complete: [`PemPaste::der`] holds its DER bytes.
    Done(usize),
    Bad(&'static str),
}

impl PemPaste {
    pub fn der(&self, n: usize) -> &[u8] {
        &self.der[..n.min(CA_MAX)]
    }

    pub fn line(&mut self, line: &str) -> Pem {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            self.active = true;
            self.b64.clear();
            return Pem::More;
        }
        if !self.active {
            return Pem::No;
        }
        if line == "-----END CERTIFICATE-----" {
            self.active = false;
            use base64::Engine as _;
            return match base64::engine::general_purpose::STANDARD
                .decode_slice(&self.b64, &mut self.der)
            {
                Ok(n) => Pem::Done(n),
                Err(_) => Pem::Bad("not base64 (a certificate of at most 1 KiB)"),
            };
        }
        if self.b64.extend_from_slice(line.as_bytes()).is_err() {
            self.active = false;
            return Pem::Bad("longer than 1 KiB");
        }
        Pem::More
    }
}

/// What a TLS connection needs, kept by the network task: record buffers, the CA, the seed.
pub struct Buffers {
    rx: &'static mut [u8; READ_BUF],
    tx: &'static mut [u8; WRITE_BUF],
    ca: [u8; CA_MAX],
    ca_len: usize,
    seed: Option<[u8; 32]>,
    count: u32,
}

impl Buffers {
    /// With `tls` on: the buffers and the provisioned CA (`None` with TLS off).
    pub async fn take(cfg: &crate::config::Config) -> Option<Buffers> {
        if !cfg.tls {
            return None;
        }
        let rx = cortex_m::singleton!(: [u8; READ_BUF] = [0; READ_BUF])?;
        let tx = cortex_m::singleton!(: [u8; WRITE_BUF] = [0; WRITE_BUF])?;
        let mut b = Buffers {
            rx,
            tx,
            ca: [0; CA_MAX],
            ca_len: 0,
            seed: None,
            count: 0,
        };
        let ca = &mut b.ca;
        b.ca_len = crate::station::with_store(async |s| s.ca(ca).await)
            .await
            .flatten()
            .unwrap_or(0);
        if b.ca_len == 0 {
            crate::log!("tls: no CA provisioned (paste the broker CA's PEM on the console)");
        }
        Some(b)
    }

    /// A fresh seed per connection: the first from the board (or flash), then a ratchet.
    pub async fn next_seed(&mut self) -> [u8; 32] {
        let seed = match self.seed {
            Some(prev) => {
                let mut h = Sha256::new();
                h.update(prev);
                h.update(self.count.to_le_bytes());
                h.update(Instant::now().as_ticks().to_le_bytes());
                h.finalize().into()
            }
            None => {
                let stored = crate::station::with_store(async |s| s.seed().await)
                    .await
                    .flatten();
                let (seed, hardware) = seed(stored).await;
                if !hardware {
                    crate::log!("tls: no hardware RNG on this board; seed from flash and timing (test-grade)");
                    let next: [u8; 32] = Sha256::digest(seed).into();
                    crate::station::with_store(async |s| s.save_seed(&next).await).await;
                }
                seed
            }
        };
        self.seed = Some(seed);
        self.count = self.count.wrapping_add(1);
        seed
    }

    pub fn parts(&mut self) -> (&mut [u8], &mut [u8], &[u8]) {
        (&mut self.rx[..], &mut self.tx[..], &self.ca[..self.ca_len])
    }
}
