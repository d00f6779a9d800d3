//! The device's configuration, provisioned on the console (`console.rs`) and kept in flash
//! (`store.rs`) as JSON.

use heapless::String;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Device id (`n0001`), the client id and topic segment.
    pub id: String<24>,
    /// Site (`town`), the topic's first segment after `meili/v1`.
    pub site: String<24>,
    pub broker_host: String<64>,
    pub broker_port: u16,
    pub username: String<32>,
    pub password: String<64>,
    /// The SIM's access point name.
    pub apn: String<32>,
    /// Reporting period.
    pub period_s: u32,
    /// Calibration offset added to the measured level (noise) or PM2.5 (air).
    pub offset: f32,
    /// RS-485 unit of the noise transmitter.
    pub unit: u8,
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
            unit: 1,
        }
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
            _ => Err("unknown key"),
        }
    }
}
