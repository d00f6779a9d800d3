//! InfluxDB line protocol for the raw measurements of CONTRACT §4.
//!
//! Tags come pre-rendered from the registry (identifiers are validated, so no escaping is
//! needed); fields are the reading's present values; the timestamp is the reading's `ts` in
//! seconds, so a reading delivered twice overwrites itself instead of adding a row. `seq` and
//! `period_s` are kept as fields (the standards engine reads the period back from the buffer);
//! the sinks cut them unless configured to keep them.

use std::io::Write as _;

use meili_firmware::{Kind, Reading};

use crate::registry::Device;

struct Fields<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl Fields<'_> {
    fn sep(&mut self, name: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'=');
    }
    fn float(&mut self, name: &str, v: Option<f32>) {
        if let Some(v) = v {
            self.sep(name);
            let _ = write!(self.out, "{v}");
        }
    }
    fn float64(&mut self, name: &str, v: Option<f64>) {
        if let Some(v) = v {
            self.sep(name);
            let _ = write!(self.out, "{v}");
        }
    }
    fn int(&mut self, name: &str, v: Option<u64>) {
        if let Some(v) = v {
            self.sep(name);
            let _ = write!(self.out, "{v}i");
        }
    }
    fn boolean(&mut self, name: &str, v: Option<bool>) {
        if let Some(v) = v {
            self.sep(name);
            self.out
                .extend_from_slice(if v { b"true" } else { b"false" });
        }
    }
}

/// Append one line (with trailing newline) for `reading` of `device`.
pub fn encode(out: &mut Vec<u8>, device: &Device, r: &Reading) {
    out.extend_from_slice(device.line_prefix.as_bytes());
    let mut f = Fields { out, first: true };
    match device.kind() {
        Kind::Noise => {
            f.float("laeq", r.laeq);
            f.float("lamax", r.lamax);
            f.float("lamin", r.lamin);
        }
        Kind::Air => {
            f.float("pm2_5", r.pm2_5);
            f.float("pm10", r.pm10);
            f.float("so2", r.so2);
            f.float("no2", r.no2);
            f.float("o3", r.o3);
            f.float("co", r.co);
            f.float("temp_c", r.temp_c);
            f.float("rh_pct", r.rh_pct);
        }
        Kind::Toilet => {
            f.int("stalls", r.stalls.map(u64::from));
            f.int("occupied", r.occupied.map(u64::from));
            f.boolean("open", r.open);
            f.float("nh3", r.nh3);
            f.float("h2s", r.h2s);
            f.int("entries", r.entries.map(u64::from));
            f.float("temp_c", r.temp_c);
            f.float("rh_pct", r.rh_pct);
        }
        Kind::Streetlight => {
            f.boolean("lamp_on", r.lamp_on);
            f.float("dim_pct", r.dim_pct);
            f.float("voltage_v", r.voltage_v);
            f.float("current_a", r.current_a);
            f.float("power_w", r.power_w);
            f.float64("energy_wh", r.energy_wh);
            f.int("fault", Some(u64::from(r.fault_bits())));
        }
    }
    f.int("seq", Some(u64::from(r.seq)));
    f.int("period_s", Some(u64::from(r.period_s)));
    let _ = writeln!(out, " {}", r.ts);
}

/// Cut the `seq` and `period_s` fields [`encode`] ends each raw row with from the rows in
/// `body[from..]`, in place. CONTRACT §4 lists neither (the engine reads them from the buffer);
/// they cost InfluxDB 1.6 about 50 % more CPU per row. Other rows pass unchanged.
pub fn strip_seq_period(body: &mut Vec<u8>, from: usize) {
    let (mut read, mut write) = (from, from);
    while read < body.len() {
        let end = memchr::memchr(b'\n', &body[read..]).map_or(body.len(), |i| read + i + 1);
        let cut = seq_period_span(&body[read..end]).map(|(a, b)| (read + a, read + b));
        for (a, b) in match cut {
            Some((a, b)) => [(read, a), (b, end)],
            None => [(read, end), (end, end)],
        } {
            body.copy_within(a..b, write);
            write += b - a;
        }
        read = end;
    }
    body.truncate(write);
}

/// Where `,seq=<n>i,period_s=<n>i` ends the fields of `line`, if it does after another field.
fn seq_period_span(line: &[u8]) -> Option<(usize, usize)> {
    let end = memchr::memrchr(b' ', line)?;
    let after_int = |at: usize, name: &[u8]| -> Option<usize> {
        // `at` is one past `…,name=<digits>i`; return where its comma is.
        let i = at.checked_sub(1).filter(|&i| line[i] == b'i')?;
        let digits = line[..i]
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let start = (i - digits).checked_sub(name.len() + 2)?;
        let ok = digits > 0
            && line[start] == b','
            && &line[start + 1..start + 1 + name.len()] == name
            && line[start + 1 + name.len()] == b'=';
        ok.then_some(start)
    };
    let period = after_int(end, b"period_s")?;
    let seq = after_int(period, b"seq")?;
    // Keep the row valid: another field must come before `seq`.
    (line[..seq].contains(&b' ')).then_some((seq, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DeviceConfig, RoadClass, ZoneClass};
    use crate::registry::Registry;

    fn device(kind: Kind) -> DeviceConfig {
        DeviceConfig {
            id: "d1".into(),
            site: "town".into(),
            kind,
            lat: 23.0,
            lon: 103.0,
            name: None,
            zone_class: (kind == Kind::Noise).then_some(ZoneClass::C4a),
            area_km2: None,
            road_class: (kind == Kind::Streetlight).then_some(RoadClass::Main),
            toilet_class: None,
            period_secs: None,
            opening_hours: None,
            facilities: Vec::new(),
            modbus: None,
        }
    }

    #[test]
    fn noise_line() {
        let reg = Registry::new([device(Kind::Noise)]);
        let r = Reading {
            laeq: Some(65.8),
            lamax: Some(80.0),
            ..Reading::new(9, 1_763_900_000, 60)
        };
        let mut out = Vec::new();
        encode(&mut out, reg.get(0), &r);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "noise,device=d1,site=town,zone_class=4a laeq=65.8,lamax=80,seq=9i,period_s=60i 1763900000\n"
        );
    }

    #[test]
    fn seq_and_period_are_cut_from_raw_rows_only() {
        let mut body = b"kept\n".to_vec();
        body.extend_from_slice(
            b"noise,device=d1,site=town,zone_class=4a laeq=65.8,lamax=80,seq=9i,period_s=60i 1763900000\n\
noise_period,device=d1,period=day,site=town,zone_class=4a leq=55,ok=true 1763900000\n\
noise,device=d1,site=t seq=9i,period_s=60i 1\n\
streetlight,device=d1,road_class=main,site=town fault=2i,seq=41234i,period_s=300i 1763900000",
        );
        strip_seq_period(&mut body, 5);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "kept\n\
noise,device=d1,site=town,zone_class=4a laeq=65.8,lamax=80 1763900000\n\
noise_period,device=d1,period=day,site=town,zone_class=4a leq=55,ok=true 1763900000\n\
noise,device=d1,site=t seq=9i,period_s=60i 1\n\
streetlight,device=d1,road_class=main,site=town fault=2i 1763900000"
        );
        let mut odd = b"a b=1,seq=i,period_s=1i 1\na b=1,xseq=1i,period_s=1i 2\n".to_vec();
        let before = odd.clone();
        strip_seq_period(&mut odd, 0);
        assert_eq!(odd, before);
    }

    #[test]
    fn streetlight_line() {
        let reg = Registry::new([device(Kind::Streetlight)]);
        let mut faults = heapless::Vec::new();
        faults.push(meili_firmware::Fault::DriverFailure).unwrap();
        let r = Reading {
            lamp_on: Some(false),
            energy_wh: Some(1234.5),
            faults: Some(faults),
            ..Reading::new(1, 1_763_900_000, 300)
        };
        let mut out = Vec::new();
        encode(&mut out, reg.get(0), &r);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "streetlight,device=d1,road_class=main,site=town lamp_on=false,energy_wh=1234.5,fault=2i,seq=1i,period_s=300i 1763900000\n"
        );
    }
}
