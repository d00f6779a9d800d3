//! The latest known state of every declared device: last reading, when it arrived, status.

use meili_firmware::{Reading, Status};

use crate::event::Record;
use crate::registry::{DeviceId, Registry};

#[derive(Debug, Clone, Default)]
pub struct DeviceState {
    /// Gateway time (unix s) the last reading arrived.
    pub last_seen_unix: Option<i64>,
    pub readings: u64,
    pub status: Option<Status>,
    pub status_unix: Option<i64>,
    /// The last status said offline (a last will) and no reading came after it.
    pub offline_will: bool,
    /// The newest readings (by reading time), newest last: the live state and the web page.
    pub recent: std::collections::VecDeque<Reading>,
    /// Messages from this device that were rejected.
    pub rejected: u64,
}

impl DeviceState {
    /// The newest reading (by reading time).
    pub fn last(&self) -> Option<&Reading> {
        self.recent.back()
    }
}

/// Readings kept per device for the web page.
pub const RECENT: usize = 8;

#[derive(Debug, Clone)]
pub struct Live {
    devices: Vec<DeviceState>,
}

impl Live {
    pub fn new(registry: &Registry) -> Live {
        Live {
            devices: vec![DeviceState::default(); registry.len()],
        }
    }

    /// A device's state; an adopted device's is made when first met.
    fn slot(&mut self, device: DeviceId) -> &mut DeviceState {
        let i = device as usize;
        if i >= self.devices.len() {
            self.devices.resize_with(i + 1, DeviceState::default);
        }
        &mut self.devices[i]
    }

    pub fn record_all(&mut self, records: &[Record], now_unix: i64) {
        for r in records {
            let d = self.slot(r.device);
            d.readings += 1;
            d.last_seen_unix = Some(now_unix);
            d.offline_will = false;
            // A backlog upload may deliver older readings after newer ones.
            if d.last().is_none_or(|l| l.ts <= r.reading.ts) {
                if d.recent.len() == RECENT {
                    d.recent.pop_front();
                }
                d.recent.push_back(r.reading.clone());
            }
        }
    }

    pub fn status(&mut self, device: DeviceId, status: Status, now_unix: i64) {
        let d = self.slot(device);
        d.offline_will = !status.online;
        d.status = Some(status);
        d.status_unix = Some(now_unix);
    }

    pub fn rejected(&mut self, device: DeviceId, n: u64) {
        self.slot(device).rejected += n;
    }

    pub fn get(&self, device: DeviceId) -> &DeviceState {
        static NOTHING_YET: DeviceState = DeviceState {
            last_seen_unix: None,
            readings: 0,
            status: None,
            status_unix: None,
            offline_will: false,
            recent: std::collections::VecDeque::new(),
            rejected: 0,
        };
        self.devices.get(device as usize).unwrap_or(&NOTHING_YET)
    }
}

/// The period a device reports at: its Modbus interval or configured `period_secs`, else the
/// period its last reading declared, else 60 s.
pub fn period_secs(d: &crate::registry::Device, st: &DeviceState) -> i64 {
    d.config
        .modbus
        .as_ref()
        .map(|m| m.interval_secs as i64)
        .or(d.config.period_secs.map(i64::from))
        .or(st.last().map(|r| i64::from(r.period_s)))
        .unwrap_or(60)
        .max(1)
}

/// Online: no last will pending and a reading within three periods.
pub fn online(d: &crate::registry::Device, st: &DeviceState, now_unix: i64) -> bool {
    !st.offline_will
        && st
            .last_seen_unix
            .is_some_and(|t| now_unix - t <= 3 * period_secs(d, st))
}
