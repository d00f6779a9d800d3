//! What every device image runs besides its sensor: configuration from flash, the console,
//! the network task (modem → MQTT session → telemetry, offline queue in flash, backlog upload)
//! and the watchdog supervisor that feeds the watchdog only while every task makes progress.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};

use embassy_executor::Spawner;
use embassy_futures::select::select;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_sync::mutex::Mutex;
use embassy_time::{Duration, Instant, Timer};
use meili_firmware::payload::{encode, encode_status, Kind, Status};
use meili_firmware::Reading;

use crate::board::{self, Board, ResetReason};
use crate::config::Config;
use crate::modem::Modem;
use crate::net::{NetError, Socket};
use crate::session::{Session, SessionError};
use crate::store::Store;

pub const FW: &str = env!("CARGO_PKG_VERSION");

/// Readings from the sensor task, with the instant they were taken (stamped with UNIX time
/// once the network clock is known).
pub static READINGS: Channel<CriticalSectionRawMutex, (Reading, Instant), 16> = Channel::new();
/// Readings lost because the network task fell 16 periods behind (status `dropped`).
pub static DROPPED: AtomicU32 = AtomicU32::new(0);
pub static ONLINE: AtomicBool = AtomicBool::new(false);
/// Off when the device has no broker (`broker_host off`: polled over Modbus RTU only).
static MQTT_ON: AtomicBool = AtomicBool::new(true);
static STORE: Mutex<CriticalSectionRawMutex, Option<Store>> = Mutex::new(None);
static RESET: AtomicU8 = AtomicU8::new(0);
static SENSOR_BEAT: AtomicU32 = AtomicU32::new(0);
static NET_BEAT: AtomicU32 = AtomicU32::new(0);
static NET_DEAD: AtomicBool = AtomicBool::new(false);

/// The clock the net task keeps (UNIX seconds at an instant), for the applications.
static CLOCK: embassy_sync::blocking_mutex::Mutex<
    CriticalSectionRawMutex,
    core::cell::Cell<Option<(i64, Instant)>>,
> = embassy_sync::blocking_mutex::Mutex::new(core::cell::Cell::new(None));

/// A noise meter's calibration (offset dB, unix seconds), for the status message.
static CALIBRATION: embassy_sync::blocking_mutex::Mutex<
    CriticalSectionRawMutex,
    core::cell::Cell<Option<(f32, i64)>>,
> = embassy_sync::blocking_mutex::Mutex::new(core::cell::Cell::new(None));
/// The status changed (a calibration): the network task publishes it again.
static STATUS_CHANGED: AtomicBool = AtomicBool::new(false);

/// A calibrator set the meter's offset: it is saved in the configuration (it survives a
/// restart) and reported in the status message.
pub async fn calibrated(offset: f32, unix: i64) -> bool {
    CALIBRATION.lock(|c| c.set(Some((offset, unix))));
    STATUS_CHANGED.store(true, Ordering::Relaxed);
    with_store(async |s| {
        let mut c = s.config().await.unwrap_or_default();
        c.offset = offset;
        c.cal_unix = unix;
        s.save_config(&c).await
    })
    .await
    .unwrap_or(false)
}

/// UNIX seconds now, once the RTC or the network gave the time.
pub fn unix_now() -> Option<i64> {
    Clock(CLOCK.lock(|c| c.get())).stamp(Instant::now())
}

fn secs() -> u32 {
    Instant::now().as_secs() as u32
}

pub fn sensor_beat() {
    SENSOR_BEAT.store(secs(), Ordering::Relaxed);
}

pub fn reset_reason() -> ResetReason {
    match RESET.load(Ordering::Relaxed) {
        1 => ResetReason::Watchdog,
        2 => ResetReason::Software,
        3 => ResetReason::Pin,
        4 => ResetReason::Brownout,
        _ => ResetReason::PowerOn,
    }
}

pub async fn with_store<R>(f: impl AsyncFnOnce(&mut Store) -> R) -> Option<R> {
    let mut guard = STORE.lock().await;
    match guard.as_mut() {
        Some(s) => Some(f(s).await),
        None => None,
    }
}

/// The sequence number to continue with (kept in flash across resets).
pub async fn next_seq() -> u32 {
    with_store(async |s| s.seq().await).await.unwrap_or(0)
}

pub async fn save_seq(next: u32) {
    with_store(async |s| s.save_seq(next).await).await;
}

/// Commands received on the device's `cmd` topic, for the application (streetlight schedule).
pub static COMMANDS: Channel<CriticalSectionRawMutex, heapless::Vec<u8, 256>, 2> = Channel::new();
/// Commands not handed to the application: longer than 256 bytes, or two already waiting.
pub static COMMANDS_DROPPED: AtomicU32 = AtomicU32::new(0);

pub fn command(payload: &[u8]) {
    let ok = heapless::Vec::from_slice(payload)
        .ok()
        .is_some_and(|v| COMMANDS.try_send(v).is_ok());
    if !ok {
        COMMANDS_DROPPED.fetch_add(1, Ordering::Relaxed);
        crate::log!(
            "cmd: dropped ({} bytes; 256 at most, 2 waiting)",
            payload.len()
        );
    }
}

/// Serve a reading on the field bus and queue it for the network task; a full queue loses it
/// (counted).
pub fn report(r: Reading) {
    crate::rtu::update(&r);
    if MQTT_ON.load(Ordering::Relaxed) && READINGS.try_send((r, Instant::now())).is_err() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the application keeps after [`start`].
pub struct Parts {
    pub cfg: Config,
    /// For [`supervise`].
    pub watchdog: board::Watchdog,
    pub sensor: board::Uart,
    pub climate: Option<board::I2c>,
    pub toilet: Option<board::ToiletIo>,
    pub lamp: Option<board::LampIo>,
    pub mic: Option<board::MicPins>,
}

/// Common start: storage, configuration, console and network tasks.
pub async fn start(spawner: &Spawner, b: Board, kind: Kind) -> Parts {
    RESET.store(
        match b.reset {
            ResetReason::PowerOn => 0,
            ResetReason::Watchdog => 1,
            ResetReason::Software => 2,
            ResetReason::Pin => 3,
            ResetReason::Brownout => 4,
        },
        Ordering::Relaxed,
    );
    let mut store = Store::new(b.config_flash, b.queue_flash).await;
    let cfg = store.config().await.unwrap_or_default();
    if cfg.cal_unix > 0 {
        CALIBRATION.lock(|c| c.set(Some((cfg.offset, cfg.cal_unix))));
    }
    crate::log!(
        "meili {} {} on {}: id {} reset {} queued {}",
        kind.as_str(),
        FW,
        board::NAME,
        cfg.id,
        b.reset.as_str(),
        store.queued
    );
    *STORE.lock().await = Some(store);
    sensor_beat();
    NET_BEAT.store(secs(), Ordering::Relaxed);
    spawn(spawner, crate::console::run(b.console, cfg.clone()));
    if cfg.modbus_unit != 0 {
        spawn(
            spawner,
            crate::rtu::run(b.bus, kind, cfg.modbus_unit, cfg.modbus_baud),
        );
    }
    if cfg.broker_host.is_empty() {
        MQTT_ON.store(false, Ordering::Relaxed);
        crate::log!("mqtt: off (no broker_host)");
    } else {
        let modem = Modem::new(b.modem, b.modem_power, &cfg.apn);
        spawn(spawner, net(modem, b.rtc, cfg.clone(), kind));
    }
    Parts {
        cfg,
        watchdog: b.watchdog,
        sensor: b.sensor,
        climate: b.climate,
        toilet: b.toilet,
        lamp: b.lamp,
        mic: b.mic,
    }
}

/// Spawn a task that is spawned once at start (a failure is a build mistake: restart).
pub fn spawn<S>(
    spawner: &Spawner,
    t: Result<embassy_executor::SpawnToken<S>, embassy_executor::SpawnError>,
) {
    match t {
        Ok(t) => spawner.spawn(t),
        Err(_) => board::restart(),
    }
}

/// Feed the watchdog once a second while the sensor task (30 s) and the network task (180 s)
/// show progress and the modem is not declared dead.
pub async fn supervise(mut wd: board::Watchdog) -> ! {
    loop {
        let now = secs();
        let sensor_ok = now.saturating_sub(SENSOR_BEAT.load(Ordering::Relaxed)) < 30;
        let net_ok = !MQTT_ON.load(Ordering::Relaxed)
            || now.saturating_sub(NET_BEAT.load(Ordering::Relaxed)) < 180;
        if sensor_ok && net_ok && !NET_DEAD.load(Ordering::Relaxed) {
            wd.feed();
        }
        Timer::after_secs(1).await;
    }
}

/// The network clock: (UNIX seconds, the instant they were read).
struct Clock(Option<(i64, Instant)>);

impl Clock {
    fn stamp(&self, at: Instant) -> Option<i64> {
        let (unix, base) = self.0?;
        let delta = if at >= base {
            (at - base).as_secs() as i64
        } else {
            -((base - at).as_secs() as i64)
        };
        Some(unix + delta)
    }
}

fn status_json(buf: &mut [u8], online: bool, rssi: Option<i16>, queued: u32) -> usize {
    let mut s = Status {
        v: 1,
        online,
        uptime_s: Some(secs()),
        rssi_dbm: rssi,
        buffered: Some(queued),
        ..Status::default()
    };
    let mut fw = heapless::String::new();
    let _ = fw.push_str(FW);
    s.fw = Some(fw);
    let mut reset = heapless::String::new();
    let _ = reset.push_str(reset_reason().as_str());
    s.reset = Some(reset);
    if let Some((offset, unix)) = CALIBRATION.lock(|c| c.get()) {
        (s.cal_offset_db, s.cal_unix) = (Some(offset), Some(unix));
    }
    encode_status(&s, buf).unwrap_or(0)
}

/// What the network task keeps between connections.
struct Net {
    clock: Clock,
    /// When the network time was last read (again each day: the crystal drifts ~2 s a day).
    network_time: Option<Instant>,
    backoff: Duration,
    next_try: Instant,
    rng: u32,
    json: [u8; 320],
    batch: [u8; 2048],
}

impl Net {
    /// Exponential backoff to 60 s with ±25 % jitter before the next attempt.
    fn back_off(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 17;
        self.rng ^= self.rng << 5;
        let ms = self.backoff.as_millis();
        let wait = ms - ms / 4 + u64::from(self.rng) % (ms / 2 + 1);
        self.next_try = Instant::now() + Duration::from_millis(wait);
        self.backoff = (self.backoff * 2).min(Duration::from_secs(60));
        wait
    }

    /// Readings waiting in RAM go to the flash queue (while offline), once they can be stamped.
    async fn queue_readings(&mut self) {
        while self.clock.0.is_some() {
            let Ok((mut r, at)) = READINGS.try_receive() else {
                break;
            };
            r.ts = self.clock.stamp(at).unwrap_or(0);
            if let Ok(n) = encode(&r, &mut self.json) {
                let json = &self.json[..n];
                with_store(async |s| s.push(json).await).await;
            }
        }
    }
}

#[embassy_executor::task]
async fn net(mut modem: Modem, mut rtc: Option<board::Rtc>, cfg: Config, kind: Kind) {
    // The RTC's calendar (kept on its battery) until the network's time is read.
    let mut st = Net {
        clock: Clock(
            rtc.as_ref()
                .and_then(board::Rtc::now_unix)
                .map(|t| (t, Instant::now())),
        ),
        network_time: None,
        backoff: Duration::from_secs(1),
        next_try: Instant::now(),
        rng: u32::from_le_bytes([cfg.id.len() as u8, 0x5A, 0xA5, 0x3C]) ^ 0x9E37_79B9,
        json: [0u8; 320],
        batch: [0u8; 2048],
    };
    if let Some((t, _)) = st.clock.0 {
        crate::log!("clock: {} (rtc)", t);
        CLOCK.lock(|c| c.set(st.clock.0));
    }
    let mut tls = crate::tls::Buffers::take(&cfg).await;
    loop {
        NET_BEAT.store(secs(), Ordering::Relaxed);
        if st
            .network_time
            .is_none_or(|at| at.elapsed() > Duration::from_secs(86_400))
        {
            if let Some(t) = modem.unix_time().await {
                st.clock.0 = Some((t, Instant::now()));
                st.network_time = Some(Instant::now());
                CLOCK.lock(|c| c.set(st.clock.0));
                if let Some(rtc) = rtc.as_mut() {
                    rtc.set_unix(t);
                }
                crate::log!("clock: {} (network time)", t);
            }
        }
        if Instant::now() >= st.next_try {
            let rssi = modem.rssi_dbm().await;
            let ended = match tls.as_mut() {
                None => online(&mut Session::new(&mut modem), &mut st, &cfg, kind, rssi).await,
                Some(b) => match modem.open(&cfg.broker_host, cfg.broker_port).await {
                    Err(e) => Err(SessionError::Net(e)),
                    Ok(()) => {
                        let seed = b.next_seed().await;
                        let (rx, tx, ca) = b.parts();
                        match crate::tls::open(&mut modem, rx, tx, &cfg.broker_host, ca, seed).await
                        {
                            Ok(link) => {
                                online(&mut Session::new(link), &mut st, &cfg, kind, rssi).await
                            }
                            Err(e) => {
                                crate::log!(
                                    "tls: handshake with {} failed ({:?})",
                                    cfg.broker_host,
                                    e
                                );
                                Err(SessionError::Protocol)
                            }
                        }
                    }
                },
            };
            ONLINE.store(false, Ordering::Relaxed);
            match ended {
                Ok(()) => {}
                Err(SessionError::Net(NetError::Dead)) => {
                    crate::log!("modem: dead after power cycles; letting the watchdog reset");
                    NET_DEAD.store(true, Ordering::Relaxed);
                    // Until the reset: every reading goes to flash, so the reset loses none
                    // (without a clock they stay queued, as they would online).
                    if st.clock.0.is_none() {
                        core::future::pending::<()>().await;
                    }
                    loop {
                        st.queue_readings().await;
                        READINGS.ready_to_receive().await;
                    }
                }
                Err(e) => {
                    modem.close().await;
                    let wait = st.back_off();
                    crate::log!(
                        "mqtt: session ended or refused ({:?}); next try in {} ms",
                        e,
                        wait
                    );
                }
            }
        }
        // Offline: new readings are kept in flash.
        st.queue_readings().await;
        select(READINGS.ready_to_receive(), Timer::after_millis(500)).await;
    }
}

/// One MQTT session over `session`'s link: connect (status `online:true`), then publish new
/// readings and the flash backlog until the link or the broker fails.
async fn online<S: Socket>(
    session: &mut Session<S>,
    st: &mut Net,
    cfg: &Config,
    kind: Kind,
    rssi: Option<i16>,
) -> Result<(), SessionError> {
    let queued = with_store(async |s| s.queued).await.unwrap_or(0);
    let n = status_json(&mut st.json, true, rssi, queued);
    session.connect(cfg, kind.as_str(), &st.json[..n]).await?;
    crate::log!("mqtt: online as {} ({} queued)", cfg.id, queued);
    ONLINE.store(true, Ordering::Relaxed);
    st.backoff = Duration::from_secs(1);
    let since = Instant::now();
    loop {
        NET_BEAT.store(secs(), Ordering::Relaxed);
        // Readings wait for a clock: read it over this link (the modem answers AT commands
        // while its socket is open); a TLS link cannot, so that session ends to let the
        // network task ask the modem.
        if st.clock.0.is_none() {
            if let Some(t) = session.sock.unix_time().await {
                st.clock.0 = Some((t, Instant::now()));
                st.network_time = Some(Instant::now());
                CLOCK.lock(|c| c.set(st.clock.0));
                crate::log!("clock: {} (network time)", t);
            } else if since.elapsed() > Duration::from_secs(30) {
                crate::log!("clock: still unknown; reconnecting to read it");
                return Err(SessionError::NoAnswer);
            }
        }
        if STATUS_CHANGED.swap(false, Ordering::Relaxed) {
            let queued = with_store(async |s| s.queued).await.unwrap_or(0);
            let n = status_json(&mut st.json, true, rssi, queued);
            if let Err(e) = session.publish("status", &st.json[..n], true).await {
                STATUS_CHANGED.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        // New readings: published at once; on failure kept in flash and the session ends.
        while st.clock.0.is_some() {
            let Ok((mut r, at)) = READINGS.try_receive() else {
                break;
            };
            r.ts = st.clock.stamp(at).unwrap_or(0);
            let Ok(n) = encode(&r, &mut st.json) else {
                continue;
            };
            if let Err(e) = session.publish("telemetry", &st.json[..n], false).await {
                crate::log!("mqtt: publish failed ({:?}); keeping seq {}", e, r.seq);
                let json = &st.json[..n];
                with_store(async |s| s.push(json).await).await;
                return Err(e);
            }
        }
        // Backlog: the oldest readings as arrays of up to 8, removed after their PUBACK.
        let batch = &mut st.batch;
        let (n, k) = with_store(async |s| s.peek_batch(8, batch).await)
            .await
            .unwrap_or((0, 0));
        if k > 0 {
            if let Err(e) = session.publish("telemetry", &st.batch[..n], false).await {
                crate::log!("mqtt: backlog publish failed ({:?})", e);
                return Err(e);
            }
            with_store(async |s| s.pop(k).await).await;
            continue;
        }
        if let Err(e) = session.idle(Duration::from_secs(1)).await {
            crate::log!("mqtt: session ended ({:?})", e);
            return Err(e);
        }
    }
}
