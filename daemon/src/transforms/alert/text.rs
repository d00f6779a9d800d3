//! Alert summaries in Chinese and English, in words a duty officer reads at a glance.

use crate::config::alerts::{Direction, Periods, RuleConfig, RuleType};

/// (Chinese name, English name, unit) of a threshold metric.
pub fn metric_names(metric: &str) -> (&'static str, &'static str, &'static str) {
    match metric {
        "laeq" => ("等效声级", "Leq", " dB(A)"),
        "lamax" => ("最大声级", "Lmax", " dB(A)"),
        "pm2_5" => ("PM2.5", "PM2.5", " µg/m³"),
        "pm10" => ("PM10", "PM10", " µg/m³"),
        "so2" => ("二氧化硫", "SO2", " µg/m³"),
        "no2" => ("二氧化氮", "NO2", " µg/m³"),
        "co" => ("一氧化碳", "CO", " mg/m³"),
        "o3" => ("臭氧", "O3", " µg/m³"),
        "nh3" => ("氨", "NH3", " mg/m³"),
        "h2s" => ("硫化氢", "H2S", " mg/m³"),
        "aqi" => ("空气质量指数", "AQI", ""),
        "occupied" => ("占用厕位", "occupied stalls", ""),
        "noise_night_compliance" => ("夜间声环境功能区达标率", "night noise compliance", "%"),
        "noise_day_compliance" => ("昼间声环境功能区达标率", "day noise compliance", "%"),
        "noise_zone_coverage" => ("噪声达标区覆盖率", "noise-compliant zone coverage", "%"),
        "air_good_days" => ("空气质量优良天数比例", "good-air days", "%"),
        "lighting_rate_main" => ("主干道亮灯率", "main-road lighting rate", "%"),
        "lighting_rate_secondary" => ("次干道及支路亮灯率", "secondary-road lighting rate", "%"),
        "lighting_intact" => ("路灯设施完好率", "lighting facilities intact", "%"),
        "toilet_availability" => ("公厕可用率", "toilet availability", "%"),
        "toilet_odour_compliance" => ("公厕臭气达标率", "toilet odour compliance", "%"),
        "toilet_density" => ("公厕密度", "toilet density", " /km²"),
        _ => ("", "", ""),
    }
}

pub fn lamp_fault_names(name: &str) -> (&'static str, &'static str) {
    match name {
        "lamp_failure" => ("灯具故障", "lamp failure"),
        "driver_failure" => ("驱动故障", "driver failure"),
        "power_failure" => ("供电故障", "power failure"),
        "comm_failure" => ("通信故障", "communication failure"),
        "day_burning" => ("白天亮灯", "day-burning"),
        _ => ("故障", "fault"),
    }
}

/// The rule's title, or one that fits its type.
pub fn title(r: &RuleConfig) -> (String, String) {
    let (zh, en) = match r.kind {
        RuleType::Threshold => {
            let (mzh, men, _) = metric_names(r.metric.as_deref().unwrap_or(""));
            let (pzh, pen) = match r.periods {
                Periods::Night => ("夜间", "Night "),
                Periods::Day => ("昼间", "Day "),
                Periods::All => ("", ""),
            };
            match r.direction {
                Direction::Above => (format!("{pzh}{mzh}超标"), format!("{pen}{men} too high")),
                Direction::Below => (format!("{pzh}{mzh}过低"), format!("{pen}{men} too low")),
            }
        }
        RuleType::Offline => ("设备离线".into(), "Device offline".into()),
        RuleType::LampFault => ("路灯故障".into(), "Lamp fault".into()),
        RuleType::ModbusDown => (
            "Modbus 设备无应答".into(),
            "Modbus device not answering".into(),
        ),
        RuleType::Compliance => ("达标率预警".into(), "Compliance at risk".into()),
        RuleType::Backlog => ("数据积压".into(), "Delivery backlog".into()),
    };
    (
        r.title_zh.clone().unwrap_or(zh),
        r.title_en.clone().unwrap_or(en.trim().to_string()),
    )
}

/// "2 h 5 min" / "2小时5分钟".
pub fn duration(secs: i64) -> (String, String) {
    let m = (secs.max(0) + 30) / 60;
    match (m / 60, m % 60) {
        (0, m) => (format!("{m}分钟"), format!("{m} min")),
        (h, 0) => (format!("{h}小时"), format!("{h} h")),
        (h, m) => (format!("{h}小时{m}分钟"), format!("{h} h {m} min")),
    }
}

/// Decimals an alert's `value` and `threshold` carry: as the figures are reported (sound
/// levels 0.1 dB, µg/m³ whole, CO 0.1 mg/m³, NH3/H2S 0.001 mg/m³, ratios 0.1 %).
pub fn decimals(metric: &str) -> u32 {
    match metric {
        "laeq" | "lamax" | "co" => 1,
        "pm2_5" | "pm10" | "so2" | "no2" | "o3" | "aqi" | "occupied" => 0,
        // NH3, H2S, toilet density and the compliance ratios (0.001 = 0.1 %).
        _ => 3,
    }
}

/// `v` rounded half to even (GB/T 8170) to `decimals` places, from its decimal form.
pub fn round(v: f64, decimals: u32) -> f64 {
    let snapped = (v * 1e6).round() / 1e6;
    let abs = crate::standards::aqi::Conc::from_f64(snapped.abs());
    abs.map_or(v, |c| c.round(decimals).to_f64().copysign(v))
}

/// A value with a sensible number of decimals.
pub fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_numbers_read_naturally() {
        assert_eq!(duration(7200).1, "2 h");
        assert_eq!(duration(7500).0, "2小时5分钟");
        assert_eq!(duration(600).1, "10 min");
        assert_eq!(num(55.04), "55.0");
        assert_eq!(num(45.0), "45");
        assert_eq!(num(0.35), "0.35");
    }
}
