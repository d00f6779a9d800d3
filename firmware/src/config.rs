//! The device's configuration: provisioned by the gateway (`meilid device provision` writes it
//! as a flash image) or on the console (`set`/`get`/`show`), and kept in the configuration
//! sector as one item of a `sequential-storage` map: key [`KEY_CONFIG`], value this struct as
//! JSON (`serde-json-core`). The gateway and the device share this file, so both agree on the
//! record byte for byte.

use heapless::String;
use serde::{Deserialize, Serialize};

/// Keys of the configuration sector's map (one byte each).
pub const KEY_CONFIG: u8 = 1;
/// The next reading's sequence number.
pub const KEY_SEQ: u8 = 2;
/// The broker's CA certificate (DER) for TLS.
pub const KEY_CA: u8 = 3;
/// The random seed of a board without an RNG.
pub const KEY_SEED: u8 = 4;
/// The configuration's JSON at its longest: every string full and escaped, about 900 bytes.
pub const JSON_MAX: usize = 1024;
/// The CA certificate (DER) a device can hold.
pub const CA_MAX: usize = 1024;

/// Every key `set`, `get` and `show` know, in `show`'s order.
pub const KEYS: [&str; 29] = [
    "id",
    "site",
    "broker_host",
    "broker_port",
    "username",
    "password",
    "tls",
    "apn",
    "period_s",
    "offset",
    "cal_unix",
    "unit",
    "noise_input",
    "nh3_zero_v",
    "nh3_span_v",
    "h2s_zero_v",
    "h2s_span_v",
    "lat",
    "lon",
    "utc_offset_min",
    "on_offset_min",
    "off_offset_min",
    "dim_pct",
    "v_per_count",
    "a_per_count",
    "modbus_unit",
    "modbus_baud",
    "ca",
    "seq",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Device id (`n0001`), the client id and topic segment.
    pub id: String<24>,
    /// Site (`town`), the topic's first segment after `meili/v1`.
    pub site: String<24>,
    /// Empty: MQTT off.
    pub broker_host: String<64>,
    pub broker_port: u16,
    /// The device's broker account (`meilid broker-config`: `{site}/{device}`).
    pub username: String<64>,
    pub password: String<64>,
    /// The SIM's access point name.
    pub apn: String<32>,
    /// Reporting period.
    pub period_s: u32,
    /// Calibration offset added to the measured level (noise) or PM2.5 (air).
    pub offset: f32,
    /// When a calibrator set `offset` (unix seconds; 0: never, the offset was typed in).
    pub cal_unix: i64,
    /// RS-485 unit of the noise transmitter.
    pub unit: u8,
    /// Noise meters: the RS-485 transmitter (`rs485`) or the board's I2S microphone (`mic`).
    pub noise_input: NoiseInput,
    /// Toilets: NH3 and H2S cells, output at zero gas (V) and span (V per mg/m³).
    pub nh3_zero_v: f32,
    pub nh3_span_v: f32,
    pub h2s_zero_v: f32,
    pub h2s_span_v: f32,
    /// Streetlights: the site for the astronomical clock, local time offset, the schedule
    /// (minutes after sunset / sunrise), the dimming level, and the lamp meter's scales.
    pub lat: f32,
    pub lon: f32,
    pub utc_offset_min: i32,
    pub on_offset_min: i32,
    pub off_offset_min: i32,
    pub dim_pct: u8,
    pub v_per_count: f32,
    pub a_per_count: f32,
    /// TLS 1.3 to the broker, verified against the CA pasted on the console.
    pub tls: bool,
    /// Answer Modbus RTU on the field bus as this unit (0: off).
    pub modbus_unit: u8,
    pub modbus_baud: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoiseInput {
    Rs485,
    Mic,
}

impl Default for Config {
    fn default() -> Config {
        fn s<const N: usize>(v: &str) -> String<N> {
            let mut x = String::new();
            let _ = x.push_str(v);
            x
        }
        Config {
            id: s("unprovisioned"),
            site: s("town"),
            broker_host: s("127.0.0.1"),
            broker_port: 1883,
            username: String::new(),
            password: String::new(),
            apn: s("cmnet"),
            period_s: 60,
            offset: 0.0,
            cal_unix: 0,
            unit: 1,
            noise_input: NoiseInput::Rs485,
            // A typical 3-electrode cell behind a 0.6 V-biased transimpedance stage.
            nh3_zero_v: 0.6,
            nh3_span_v: 0.05,
            h2s_zero_v: 0.6,
            h2s_span_v: 0.2,
            // Mengzi, Yunnan (23.36 N, 103.38 E), China Standard Time.
            lat: 23.36,
            lon: 103.38,
            utc_offset_min: 480,
            on_offset_min: 0,
            off_offset_min: 0,
            dim_pct: 100,
            // 230 V mains through a 1:100 transformer and divider; a 1 A : 1 mA CT into 1 kΩ,
            // both centred on 1.65 V of a 3.3 V 12-bit ADC.
            v_per_count: 0.25,
            a_per_count: 0.000_805,
            tls: false,
            modbus_unit: 0,
            modbus_baud: 9600,
        }
    }
}

fn float(dst: &mut f32, v: &str, lo: f32, hi: f32) -> Result<(), &'static str> {
    match v.parse::<f32>() {
        Ok(x) if (lo..=hi).contains(&x) => {
            *dst = x;
            Ok(())
        }
        Ok(_) => Err("out of range"),
        Err(_) => Err("not a number"),
    }
}

fn int(dst: &mut i32, v: &str, lo: i32, hi: i32) -> Result<(), &'static str> {
    match v.parse::<i32>() {
        Ok(x) if (lo..=hi).contains(&x) => {
            *dst = x;
            Ok(())
        }
        Ok(_) => Err("out of range"),
        Err(_) => Err("not a number"),
    }
}

fn put<const N: usize>(dst: &mut String<N>, v: &str) -> Result<(), &'static str> {
    dst.clear();
    dst.push_str(v).map_err(|_| "too long")
}

impl Config {
    /// `set key value` on the console.
    pub fn set(&mut self, key: &str, v: &str) -> Result<(), &'static str> {
        let num = |v: &str| v.parse::<u32>().map_err(|_| "not a number");
        match key {
            "id" => put(&mut self.id, v),
            "site" => put(&mut self.site, v),
            // `off`: no MQTT (a device only polled over Modbus RTU).
            "broker_host" if v == "off" => {
                self.broker_host.clear();
                Ok(())
            }
            "broker_host" => put(&mut self.broker_host, v),
            "broker_port" => {
                self.broker_port = u16::try_from(num(v)?).map_err(|_| "out of range")?;
                Ok(())
            }
            "username" => put(&mut self.username, v),
            "password" => put(&mut self.password, v),
            "apn" => put(&mut self.apn, v),
            "period_s" => match num(v)? {
                p @ 1..=3600 => {
                    self.period_s = p;
                    Ok(())
                }
                _ => Err("1 to 3600"),
            },
            "offset" => {
                self.offset = v.parse().map_err(|_| "not a number")?;
                Ok(())
            }
            "unit" => {
                self.unit = u8::try_from(num(v)?)
                    .ok()
                    .filter(|u| (1..=247).contains(u))
                    .ok_or("1 to 247")?;
                Ok(())
            }
            "noise_input" => {
                self.noise_input = match v {
                    "rs485" => NoiseInput::Rs485,
                    "mic" => NoiseInput::Mic,
                    _ => return Err("rs485 or mic"),
                };
                Ok(())
            }
            "nh3_zero_v" => float(&mut self.nh3_zero_v, v, 0.0, 3.3),
            "nh3_span_v" => float(&mut self.nh3_span_v, v, 1e-4, 10.0),
            "h2s_zero_v" => float(&mut self.h2s_zero_v, v, 0.0, 3.3),
            "h2s_span_v" => float(&mut self.h2s_span_v, v, 1e-4, 10.0),
            "lat" => float(&mut self.lat, v, -90.0, 90.0),
            "lon" => float(&mut self.lon, v, -180.0, 180.0),
            "utc_offset_min" => int(&mut self.utc_offset_min, v, -720, 840),
            "on_offset_min" => int(&mut self.on_offset_min, v, -180, 180),
            "off_offset_min" => int(&mut self.off_offset_min, v, -180, 180),
            "dim_pct" => {
                self.dim_pct = u8::try_from(num(v)?)
                    .ok()
                    .filter(|p| *p <= 100)
                    .ok_or("0 to 100")?;
                Ok(())
            }
            "tls" => {
                self.tls = match v {
                    "on" => true,
                    "off" => false,
                    _ => return Err("on or off"),
                };
                Ok(())
            }
            "modbus_unit" => {
                self.modbus_unit = u8::try_from(num(v)?)
                    .ok()
                    .filter(|u| *u <= 247)
                    .ok_or("0 (off) to 247")?;
                Ok(())
            }
            "modbus_baud" => match num(v)? {
                b @ (1200 | 2400 | 4800 | 9600 | 19_200 | 38_400 | 57_600 | 115_200) => {
                    self.modbus_baud = b;
                    Ok(())
                }
                _ => Err("1200 to 115200, a standard rate"),
            },
            "v_per_count" => float(&mut self.v_per_count, v, 1e-6, 10.0),
            "a_per_count" => float(&mut self.a_per_count, v, 1e-7, 1.0),
            _ => Err("unknown key"),
        }
    }
}

impl Config {
    /// `get key` on the console: the value as `set` takes it (`***` for a password). `ca` and
    /// `seq` live in their own items and are answered by the device, not here.
    pub fn get(&self, key: &str, out: &mut dyn core::fmt::Write) -> Result<(), &'static str> {
        let r = match key {
            "id" => out.write_str(&self.id),
            "site" => out.write_str(&self.site),
            "broker_host" if self.broker_host.is_empty() => out.write_str("off"),
            "broker_host" => out.write_str(&self.broker_host),
            "broker_port" => write!(out, "{}", self.broker_port),
            "username" => out.write_str(&self.username),
            "password" if self.password.is_empty() => Ok(()),
            "password" => out.write_str("***"),
            "tls" => out.write_str(if self.tls { "on" } else { "off" }),
            "apn" => out.write_str(&self.apn),
            "period_s" => write!(out, "{}", self.period_s),
            "offset" => write!(out, "{}", self.offset),
            "cal_unix" => write!(out, "{}", self.cal_unix),
            "unit" => write!(out, "{}", self.unit),
            "noise_input" => out.write_str(match self.noise_input {
                NoiseInput::Rs485 => "rs485",
                NoiseInput::Mic => "mic",
            }),
            "nh3_zero_v" => write!(out, "{}", self.nh3_zero_v),
            "nh3_span_v" => write!(out, "{}", self.nh3_span_v),
            "h2s_zero_v" => write!(out, "{}", self.h2s_zero_v),
            "h2s_span_v" => write!(out, "{}", self.h2s_span_v),
            "lat" => write!(out, "{}", self.lat),
            "lon" => write!(out, "{}", self.lon),
            "utc_offset_min" => write!(out, "{}", self.utc_offset_min),
            "on_offset_min" => write!(out, "{}", self.on_offset_min),
            "off_offset_min" => write!(out, "{}", self.off_offset_min),
            "dim_pct" => write!(out, "{}", self.dim_pct),
            "v_per_count" => write!(out, "{}", self.v_per_count),
            "a_per_count" => write!(out, "{}", self.a_per_count),
            "modbus_unit" => write!(out, "{}", self.modbus_unit),
            "modbus_baud" => write!(out, "{}", self.modbus_baud),
            _ => return Err("unknown key"),
        };
        r.map_err(|_| "too long")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key but the two kept in their own items reads back what `set` wrote.
    #[test]
    fn set_then_get_round_trips_every_key() {
        let mut c = Config::default();
        let values = [
            ("id", "n07"),
            ("site", "town"),
            ("broker_host", "gw.example"),
            ("broker_port", "8883"),
            ("username", "town/n07"),
            ("tls", "on"),
            ("apn", "cmiot"),
            ("period_s", "30"),
            ("offset", "0.5"),
            ("unit", "3"),
            ("noise_input", "mic"),
            ("nh3_zero_v", "0.61"),
            ("lat", "23.5"),
            ("utc_offset_min", "480"),
            ("dim_pct", "70"),
            ("modbus_unit", "5"),
            ("modbus_baud", "19200"),
        ];
        for (k, v) in values {
            c.set(k, v).unwrap();
            let mut got: String<64> = String::new();
            c.get(k, &mut got).unwrap();
            assert_eq!(got.as_str(), v, "{k}");
        }
        c.set("password", "secret").unwrap();
        let mut got: String<64> = String::new();
        c.get("password", &mut got).unwrap();
        assert_eq!(got.as_str(), "***");
        for k in KEYS.iter().filter(|k| !matches!(**k, "ca" | "seq")) {
            let mut got: String<64> = String::new();
            assert!(c.get(k, &mut got).is_ok(), "{k}");
        }
        assert_eq!(c.get("nope", &mut String::<8>::new()), Err("unknown key"));
        assert_eq!(c.set("period_s", "0"), Err("1 to 3600"));
    }
}
