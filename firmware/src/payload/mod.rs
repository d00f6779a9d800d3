//! Wire format of CONTRACT §2: reading objects published on `…/telemetry` and status objects
//! on `…/status`.
//!
//! One flat [`Reading`] carries the fields of every kind; which fields belong to which kind, which
//! are required, and which physical ranges are plausible is defined here, next to the type, so
//! that firmware and daemon agree byte for byte. Encoding is JSON into a caller-supplied buffer
//! (`serde-json-core`, no allocator); numbers are printed in their shortest round-trip form.

use heapless::Vec;
use serde::{Deserialize, Serialize};

/// Version of the payload objects (`"v"`).
pub const VERSION: u8 = 1;

/// Largest number of fault codes in one streetlight reading.
pub const MAX_FAULTS: usize = 4;

/// Device kind, the `{kind}` topic level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Noise,
    Air,
    Toilet,
    Streetlight,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Noise, Kind::Air, Kind::Toilet, Kind::Streetlight];

    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Noise => "noise",
            Kind::Air => "air",
            Kind::Toilet => "toilet",
            Kind::Streetlight => "streetlight",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Streetlight fault codes (TALQ-style names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    LampFailure,
    DriverFailure,
    PowerFailure,
    CommFailure,
}

impl Fault {
    pub const ALL: [Fault; 4] = [
        Fault::LampFailure,
        Fault::DriverFailure,
        Fault::PowerFailure,
        Fault::CommFailure,
    ];

    /// Bit of this fault in the `fault` bitmask stored in the database.
    pub const fn bit(self) -> u8 {
        1 << (self as u8)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Fault::LampFailure => "lamp_failure",
            Fault::DriverFailure => "driver_failure",
            Fault::PowerFailure => "power_failure",
            Fault::CommFailure => "comm_failure",
        }
    }
}

/// One reading. `(device, seq, ts)` identifies it; all kind fields are optional on the wire,
/// [`Reading::missing_required`] says which ones a kind cannot do without.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Reading {
    pub v: u8,
    /// Per-device sequence number, +1 per reading, wraps.
    pub seq: u32,
    /// Unix seconds, UTC, end of the period.
    pub ts: i64,
    pub period_s: u32,
    // noise, dB(A)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub laeq: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lamax: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lamin: Option<f32>,
    // air, µg/m³ except co (mg/m³)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pm2_5: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pm10: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub so2: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no2: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub o3: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub co: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temp_c: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rh_pct: Option<f32>,
    // toilet
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalls: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occupied: Option<u16>,
    /// Cumulative entry counter (resets on device restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nh3: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h2s: Option<f32>,
    // streetlight
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lamp_on: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim_pct: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voltage_v: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_a: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_w: Option<f32>,
    /// Cumulative energy counter; f64 so that it stays exact to 0.1 Wh beyond 10⁸ Wh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_wh: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<Vec<Fault, MAX_FAULTS>>,
}

/// A field whose value lies outside the physically plausible range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangeError {
    pub field: &'static str,
    pub value: f64,
}

macro_rules! check_range {
    ($self:ident, $field:ident, $lo:expr, $hi:expr) => {
        if let Some(v) = $self.$field {
            let v = v as f64;
            if !($lo..=$hi).contains(&v) {
                return Err(RangeError {
                    field: stringify!($field),
                    value: v,
                });
            }
        }
    };
}

/// Every reading field of the contract (CONTRACT §2) with the kind it belongs to (`None`:
/// shared; air stations and toilets both carry temperature and humidity). The one place that
/// says whose a field is: validation, the Modbus maps and the alert rules read it.
pub const FIELDS: [(&str, Option<Kind>); 24] = [
    ("laeq", Some(Kind::Noise)),
    ("lamax", Some(Kind::Noise)),
    ("lamin", Some(Kind::Noise)),
    ("pm2_5", Some(Kind::Air)),
    ("pm10", Some(Kind::Air)),
    ("so2", Some(Kind::Air)),
    ("no2", Some(Kind::Air)),
    ("o3", Some(Kind::Air)),
    ("co", Some(Kind::Air)),
    ("temp_c", None),
    ("rh_pct", None),
    ("stalls", Some(Kind::Toilet)),
    ("occupied", Some(Kind::Toilet)),
    ("entries", Some(Kind::Toilet)),
    ("open", Some(Kind::Toilet)),
    ("nh3", Some(Kind::Toilet)),
    ("h2s", Some(Kind::Toilet)),
    ("lamp_on", Some(Kind::Streetlight)),
    ("dim_pct", Some(Kind::Streetlight)),
    ("voltage_v", Some(Kind::Streetlight)),
    ("current_a", Some(Kind::Streetlight)),
    ("power_w", Some(Kind::Streetlight)),
    ("energy_wh", Some(Kind::Streetlight)),
    ("faults", Some(Kind::Streetlight)),
];

/// The kind a contract field belongs to: `None` for an unknown field, `Some(None)` for a
/// shared one.
pub fn field_kind(name: &str) -> Option<Option<Kind>> {
    FIELDS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

impl Reading {
    /// A reading of `kind` with only the header set.
    pub fn new(seq: u32, ts: i64, period_s: u32) -> Reading {
        Reading {
            v: VERSION,
            seq,
            ts,
            period_s,
            ..Reading::default()
        }
    }

    /// Kinds that own at least one field present in this reading, as a bit set over
    /// [`Kind::index`]. A reading on a `noise` topic that carries `pm2_5` is a kind mismatch.
    pub fn field_kinds(&self) -> u8 {
        FIELDS
            .iter()
            .filter(|(name, _)| self.has(name))
            .filter_map(|(_, kind)| *kind)
            .fold(0u8, |set, k| set | 1 << k.index())
    }

    /// Whether the reading carries the contract field `name`.
    pub fn has(&self, name: &str) -> bool {
        match name {
            "laeq" => self.laeq.is_some(),
            "lamax" => self.lamax.is_some(),
            "lamin" => self.lamin.is_some(),
            "pm2_5" => self.pm2_5.is_some(),
            "pm10" => self.pm10.is_some(),
            "so2" => self.so2.is_some(),
            "no2" => self.no2.is_some(),
            "o3" => self.o3.is_some(),
            "co" => self.co.is_some(),
            "temp_c" => self.temp_c.is_some(),
            "rh_pct" => self.rh_pct.is_some(),
            "stalls" => self.stalls.is_some(),
            "occupied" => self.occupied.is_some(),
            "entries" => self.entries.is_some(),
            "open" => self.open.is_some(),
            "nh3" => self.nh3.is_some(),
            "h2s" => self.h2s.is_some(),
            "lamp_on" => self.lamp_on.is_some(),
            "dim_pct" => self.dim_pct.is_some(),
            "voltage_v" => self.voltage_v.is_some(),
            "current_a" => self.current_a.is_some(),
            "power_w" => self.power_w.is_some(),
            "energy_wh" => self.energy_wh.is_some(),
            "faults" => self.faults.is_some(),
            _ => false,
        }
    }

    /// The first field of another kind than `kind` present in the reading, if any.
    /// `temp_c` and `rh_pct` are shared (air stations and toilets both carry them).
    pub fn foreign_kind(&self, kind: Kind) -> Option<Kind> {
        let others = self.field_kinds() & !(1 << kind.index());
        Kind::ALL
            .into_iter()
            .find(|k| others & (1 << k.index()) != 0)
    }

    /// The field the standard of `kind` cannot do without, if it is missing.
    pub fn missing_required(&self, kind: Kind) -> Option<&'static str> {
        match kind {
            Kind::Noise if self.laeq.is_none() => Some("laeq"),
            Kind::Streetlight if self.lamp_on.is_none() => Some("lamp_on"),
            Kind::Air if self.field_kinds() & (1 << Kind::Air.index()) == 0 => Some("pm2_5"),
            _ => None,
        }
    }

    /// Physical plausibility of every present field.
    pub fn check_ranges(&self) -> Result<(), RangeError> {
        check_range!(self, laeq, 0.0, 194.0);
        check_range!(self, lamax, 0.0, 194.0);
        check_range!(self, lamin, 0.0, 194.0);
        check_range!(self, pm2_5, 0.0, 10_000.0);
        check_range!(self, pm10, 0.0, 10_000.0);
        check_range!(self, so2, 0.0, 30_000.0);
        check_range!(self, no2, 0.0, 30_000.0);
        check_range!(self, o3, 0.0, 30_000.0);
        check_range!(self, co, 0.0, 1_000.0);
        check_range!(self, temp_c, -60.0, 90.0);
        check_range!(self, rh_pct, 0.0, 100.0);
        check_range!(self, stalls, 0.0, 1_000.0);
        check_range!(self, occupied, 0.0, 1_000.0);
        check_range!(self, nh3, 0.0, 1_000.0);
        check_range!(self, h2s, 0.0, 1_000.0);
        check_range!(self, dim_pct, 0.0, 100.0);
        check_range!(self, voltage_v, 0.0, 1_000.0);
        check_range!(self, current_a, 0.0, 1_000.0);
        check_range!(self, power_w, 0.0, 100_000.0);
        check_range!(self, energy_wh, 0.0, 1e15);
        if let (Some(stalls), Some(occupied)) = (self.stalls, self.occupied) {
            if occupied > stalls {
                return Err(RangeError {
                    field: "occupied",
                    value: occupied as f64,
                });
            }
        }
        if let (Some(lo), Some(hi)) = (self.lamin, self.lamax) {
            if lo > hi {
                return Err(RangeError {
                    field: "lamin",
                    value: lo as f64,
                });
            }
        }
        Ok(())
    }

    /// Faults as a bitmask of [`Fault::bit`].
    pub fn fault_bits(&self) -> u8 {
        self.faults
            .as_ref()
            .map_or(0, |f| f.iter().fold(0, |acc, f| acc | f.bit()))
    }
}

/// Retained device status (`…/status`); the last will is `{"v":1,"online":false}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Status {
    pub v: u8,
    pub online: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fw: Option<heapless::String<24>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_s: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rssi_dbm: Option<i16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffered: Option<u32>,
    /// Why the device last started: `power_on`, `watchdog`, `software`, `pin`, `brownout`
    /// (an extension of CONTRACT §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<heapless::String<12>>,
    /// Noise meters: the calibration offset in dB added to the measured level, and when it was
    /// set by an acoustic calibrator (unix seconds) (an extension of CONTRACT §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cal_offset_db: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cal_unix: Option<i64>,
}

/// The buffer is too small for the encoded object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeError;

/// The bytes are not a valid object of this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError;

/// Encode a reading as JSON into `buf`; returns the number of bytes written.
pub fn encode(reading: &Reading, buf: &mut [u8]) -> Result<usize, EncodeError> {
    serde_json_core::to_slice(reading, buf).map_err(|_| EncodeError)
}

/// Encode a backlog upload: a JSON array of readings.
pub fn encode_batch(readings: &[Reading], buf: &mut [u8]) -> Result<usize, EncodeError> {
    serde_json_core::to_slice(readings, buf).map_err(|_| EncodeError)
}

/// Encode a status object.
pub fn encode_status(status: &Status, buf: &mut [u8]) -> Result<usize, EncodeError> {
    serde_json_core::to_slice(status, buf).map_err(|_| EncodeError)
}

/// Decode one reading object (device side; the daemon decodes the same type with serde_json).
pub fn decode(bytes: &[u8]) -> Result<Reading, DecodeError> {
    serde_json_core::from_slice(bytes)
        .map(|(r, _)| r)
        .map_err(|_| DecodeError)
}

#[cfg(test)]
mod tests;
