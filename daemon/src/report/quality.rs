//! Data quality per device over the period: days with results, valid days by the standards'
//! rules, and hours the device left without valid data (its "offline time" as the figures
//! see it). Lamps are reported per road class, not per lamp, so they are not listed here.

use super::Report;

/// One device's coverage.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceQuality {
    pub device: String,
    pub kind: &'static str,
    pub days: u32,
    /// Days valid by the standard: a noise point's day and night both valid (GB 3096 §5.1),
    /// an air station's day valid (HJ 633 / GB 3095 §8); `None` for toilets (no such rule).
    pub valid_days: Option<u32>,
    /// Hours without valid data: noise, the 24 h a point-day has less its valid hours; air,
    /// 24 h less the valid hours of its least-covered pollutant; toilets, open hours without
    /// readings.
    pub missing_hours: f64,
}

/// Every noise point, air station and toilet with a result in the period, in that order.
pub fn by_device(r: &Report) -> Vec<DeviceQuality> {
    let mut out: Vec<DeviceQuality> = Vec::new();
    let mut add = |device: &str, kind: &'static str, valid: Option<bool>, missing: f64| {
        let i = match out
            .iter()
            .position(|q| q.device == device && q.kind == kind)
        {
            Some(i) => i,
            None => {
                out.push(DeviceQuality {
                    device: device.to_string(),
                    kind,
                    days: 0,
                    valid_days: valid.map(|_| 0),
                    missing_hours: 0.0,
                });
                out.len() - 1
            }
        };
        let q = &mut out[i];
        q.days += 1;
        if let (Some(v), Some(true)) = (q.valid_days.as_mut(), valid) {
            *v += 1;
        }
        q.missing_hours += missing;
    };
    for d in &r.days {
        for n in &d.noise {
            let (day, night) = (&n.result.day, &n.result.night);
            let hours = f64::from(day.valid_hours + night.valid_hours);
            add(
                &n.device,
                "noise",
                Some(day.valid && night.valid),
                (24.0 - hours).max(0.0),
            );
        }
        for a in d.air.iter().filter(|a| a.device != "_site") {
            let least = a
                .valid_hours
                .map_or(0, |h| h.into_iter().min().unwrap_or(0));
            add(
                &a.device,
                "air",
                Some(a.valid),
                (24.0 - f64::from(least)).max(0.0),
            );
        }
        for t in &d.toilets {
            let missing = (t.open_minutes - t.measured_open_minutes).max(0.0) / 60.0;
            add(&t.device, "toilet", None, missing);
        }
    }
    let rank = |k: &str| ["noise", "air", "toilet"].iter().position(|x| *x == k);
    out.sort_by(|a, b| (rank(a.kind), &a.device).cmp(&(rank(b.kind), &b.device)));
    out
}
