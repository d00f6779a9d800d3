//! Quectel EC800N / EC20 4G module over a UART with AT commands (TCP/IP application note):
//! `AT+QICSGP`/`AT+QIACT` to attach, `AT+QIOPEN` (buffer access mode), `AT+QISEND`,
//! `+QIURC: "recv"` → `AT+QIRD`, `AT+QICLOSE`, `AT+CSQ`, `AT+CCLK?`.
//!
//! Every exchange has a timeout. `ERROR` and `+QIURC: "closed"` close the socket and the next
//! `open` starts over; a module that stays silent is power-cycled (`POWER_CYCLES` times) and
//! then reported `Dead`, for the application to stop feeding the watchdog.

use embassy_time::{with_timeout, Duration, Instant, Timer};
use embedded_io_async::{Read, Write};
use heapless::{String, Vec};
use meili_firmware::drivers::quectel::{parse, Line};

use crate::board::{ModemPower, Uart};
use crate::net::{NetError, Socket};

const SHORT: Duration = Duration::from_secs(2);
const ATTACH: Duration = Duration::from_secs(40);
const OPEN: Duration = Duration::from_secs(40);
const POWER_CYCLES: u8 = 3;

pub struct Modem {
    uart: Uart,
    power: ModemPower,
    apn: String<32>,
    line: Vec<u8, 160>,
    attached: bool,
    open: bool,
    /// Data announced by `+QIURC: "recv"` and not yet read.
    pending: bool,
    /// Consecutive silent power cycles.
    silent: u8,
}

impl Modem {
    pub fn new(uart: Uart, power: ModemPower, apn: &str) -> Modem {
        let mut a = String::new();
        let _ = a.push_str(apn);
        Modem {
            uart,
            power,
            apn: a,
            line: Vec::new(),
            attached: false,
            open: false,
            pending: false,
            silent: 0,
        }
    }

    /// The next line (or the `> ` prompt) within `wait`, URCs noted on the way.
    async fn next_line(&mut self, wait: Duration) -> Result<Line<'_>, NetError> {
        let deadline = Instant::now() + wait;
        self.line.clear();
        loop {
            let mut b = [0u8; 1];
            let left = deadline.saturating_duration_since(Instant::now());
            match with_timeout(left, self.uart.read(&mut b)).await {
                Err(_) => return Err(NetError::Timeout),
                Ok(Ok(0)) | Ok(Err(_)) => continue,
                Ok(Ok(_)) => {}
            }
            match b[0] {
                b'\n' => {
                    let len = self.line.len();
                    if len == 0 {
                        continue;
                    }
                    break;
                }
                b'\r' => {}
                b'>' if self.line.is_empty() => {
                    return Ok(Line::Other(">"));
                }
                c => {
                    if self.line.push(c).is_err() {
                        self.line.clear(); // an over-long line is noise
                    }
                }
            }
        }
        let text = core::str::from_utf8(&self.line).unwrap_or("");
        let l = parse(text);
        match l {
            Line::Recv { id: 0 } => self.pending = true,
            Line::Closed { id: 0 } => {
                crate::log!("modem: socket closed by the network");
                self.open = false;
            }
            Line::PdpDeact | Line::Registered(false) => {
                crate::log!("modem: data context lost");
                self.attached = false;
                self.open = false;
            }
            _ => {}
        }
        Ok(l)
    }

    async fn send_cmd(&mut self, cmd: &str) {
        let _ = self.uart.write(cmd.as_bytes()).await;
        let _ = self.uart.write(b"\r").await;
    }

    /// Send a command; `on` sees each answer line; the final OK / ERROR decides.
    async fn cmd(
        &mut self,
        cmd: &str,
        wait: Duration,
        mut on: impl FnMut(&Line<'_>),
    ) -> Result<(), NetError> {
        self.send_cmd(cmd).await;
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let l = match self.next_line(left).await {
                Ok(l) => l,
                Err(e) => {
                    // No answer: the next attempt starts by waking the module.
                    self.attached = false;
                    self.open = false;
                    return Err(e);
                }
            };
            match l {
                Line::Ok => return Ok(()),
                Line::Error | Line::CmeError(_) => return Err(NetError::Refused),
                other => on(&other),
            }
        }
    }

    /// Wake the module: `AT` until it answers, power-cycling a silent one.
    async fn wake(&mut self) -> Result<(), NetError> {
        for _ in 0..3 {
            if self.cmd("AT", Duration::from_secs(1), |_| {}).await.is_ok() {
                self.silent = 0;
                let _ = self.cmd("ATE0", SHORT, |_| {}).await;
                return Ok(());
            }
        }
        self.silent += 1;
        crate::log!("modem: silent, power cycle {}", self.silent);
        if self.silent > POWER_CYCLES {
            return Err(NetError::Dead);
        }
        self.power.cycle().await;
        self.uart.clear();
        Err(NetError::Timeout)
    }

    /// A query answered by one information line: what `pick` finds in it, if the command
    /// succeeds.
    async fn query<T>(
        &mut self,
        cmd: &str,
        pick: impl Fn(&Line<'_>) -> Option<Option<T>>,
    ) -> Option<T> {
        let mut v = None;
        self.cmd(cmd, SHORT, |l| {
            if let Some(x) = pick(l) {
                v = x;
            }
        })
        .await
        .ok()?;
        v
    }

    async fn attach(&mut self) -> Result<(), NetError> {
        // No socket is open yet: anything waiting in the receive buffer is a stale answer (the
        // device restarted or gave up mid-command) that would pair every command with the
        // previous one's reply from here on. Drop it.
        self.uart.clear();
        self.wake().await?;
        let mut sim = false;
        self.cmd("AT+CPIN?", SHORT, |l| sim |= *l == Line::SimReady(true))
            .await?;
        if !sim {
            return Err(NetError::NoNetwork);
        }
        let mut reg = false;
        let until = Instant::now() + ATTACH;
        while !reg && Instant::now() < until {
            self.cmd("AT+CEREG?", SHORT, |l| reg |= *l == Line::Registered(true))
                .await?;
            if !reg {
                Timer::after_secs(1).await;
            }
        }
        if !reg {
            return Err(NetError::NoNetwork);
        }
        let mut c: String<80> = String::new();
        let _ = core::fmt::write(
            &mut c,
            format_args!("AT+QICSGP=1,1,\"{}\",\"\",\"\",1", self.apn),
        );
        self.cmd(&c, SHORT, |_| {}).await?;
        // Already active is fine (ERROR): the query below tells.
        let _ = self.cmd("AT+QIACT=1", ATTACH, |_| {}).await;
        self.attached = true;
        Ok(())
    }
}

impl Socket for Modem {
    async fn open(&mut self, host: &str, port: u16) -> Result<(), NetError> {
        if self.open {
            self.close().await;
        }
        if !self.attached {
            self.attach().await?;
        }
        let mut c: String<96> = String::new();
        let _ = core::fmt::write(
            &mut c,
            format_args!("AT+QIOPEN=1,0,\"TCP\",\"{host}\",{port},0,0"),
        );
        if let Err(e) = self.cmd(&c, SHORT, |_| {}).await {
            // 563: socket identity in use; close it for the next try.
            self.close().await;
            return Err(e);
        }
        let until = Instant::now() + OPEN;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.next_line(left).await? {
                Line::Opened { id: 0, err: 0 } => {
                    self.open = true;
                    self.pending = false;
                    return Ok(());
                }
                Line::Opened { id: 0, err } => {
                    crate::log!("modem: open failed ({})", err);
                    self.close().await;
                    return Err(NetError::Closed);
                }
                _ => {}
            }
        }
    }

    async fn send(&mut self, data: &[u8]) -> Result<(), NetError> {
        for chunk in data.chunks(1024) {
            if !self.open {
                return Err(NetError::Closed);
            }
            let mut c: String<32> = String::new();
            let _ = core::fmt::write(&mut c, format_args!("AT+QISEND=0,{}", chunk.len()));
            self.send_cmd(&c).await;
            loop {
                match self.next_line(SHORT).await? {
                    Line::Other(">") => break,
                    Line::Error | Line::CmeError(_) => {
                        self.open = false;
                        return Err(NetError::Closed);
                    }
                    _ => {}
                }
            }
            let _ = self.uart.write(chunk).await;
            loop {
                match self.next_line(Duration::from_secs(10)).await? {
                    Line::SendOk => break,
                    Line::SendFail | Line::Error | Line::CmeError(_) => {
                        self.open = false;
                        return Err(NetError::Closed);
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    async fn recv(&mut self, buf: &mut [u8], wait: Duration) -> Result<usize, NetError> {
        let until = Instant::now() + wait;
        while !self.pending {
            if !self.open {
                return Err(NetError::Closed);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left == Duration::from_ticks(0) {
                return Ok(0);
            }
            match self.next_line(left).await {
                Err(NetError::Timeout) => return Ok(0),
                Err(e) => return Err(e),
                Ok(_) => {}
            }
        }
        let mut c: String<32> = String::new();
        let _ = core::fmt::write(&mut c, format_args!("AT+QIRD=0,{}", buf.len().min(1500)));
        self.send_cmd(&c).await;
        let n = loop {
            match self.next_line(SHORT).await? {
                Line::ReadLen(n) => break n.min(buf.len()),
                Line::Error | Line::CmeError(_) => return Err(NetError::Refused),
                _ => {}
            }
        };
        let mut got = 0;
        while got < n {
            match with_timeout(SHORT, self.uart.read(&mut buf[got..n])).await {
                Ok(Ok(k)) => got += k,
                _ => return Err(NetError::Timeout),
            }
        }
        // The closing OK; `+QIRD: 0` means everything was read.
        loop {
            match self.next_line(SHORT).await? {
                Line::Ok => break,
                Line::Error => return Err(NetError::Refused),
                _ => {}
            }
        }
        if n == 0 {
            self.pending = false;
        }
        Ok(n)
    }

    async fn close(&mut self) {
        self.open = false;
        self.pending = false;
        let _ = self.cmd("AT+QICLOSE=0", SHORT, |_| {}).await;
    }

    async fn rssi_dbm(&mut self) -> Option<i16> {
        self.query("AT+CSQ", |l| match l {
            Line::Csq(x) => Some(*x),
            _ => None,
        })
        .await
    }

    async fn unix_time(&mut self) -> Option<i64> {
        self.query("AT+CCLK?", |l| match l {
            Line::Clock(x) => Some(*x),
            _ => None,
        })
        .await
    }
}
