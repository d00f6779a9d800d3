//! `meilid demo`, the README's first command: embedded broker, simulated fleet, the pipeline,
//! the local store. Run here with a two-device town so the backfill is quick in a debug build.

use std::process::Command;
use std::time::Duration;

use crate::util::*;

#[test]
fn demo_backfills_two_days_so_day_night_and_daily_air_figures_are_there() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("town.toml");
    std::fs::write(
        &config,
        "[daemon]\ntimezone = \"Asia/Shanghai\"\n\n[standards]\nemit_interval_secs = 1\n\n\
         [[sinks]]\ntype = \"file\"\npath = \"store/readings.lp\"\n\n\
         [[devices]]\nid = \"n01\"\nsite = \"town\"\nkind = \"noise\"\nlat = 23.36\nlon = 103.37\nzone_class = \"1\"\n\n\
         [[devices]]\nid = \"a01\"\nsite = \"town\"\nkind = \"air\"\nlat = 23.36\nlon = 103.37\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("demo.log");
    let mut demo = Proc::spawn(
        "meilid demo",
        Command::new(env!("CARGO_BIN_EXE_meilid"))
            .args(["demo", "--mqtt-port", "0"])
            .args(["--http-listen", &format!("127.0.0.1:{}", free_port())])
            .arg("--data-dir")
            .arg(&data)
            .arg("--config")
            .arg(&config),
        &log,
    );
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    // Two devices, midnight two days ago until now, one reading per 5 minutes each.
    let n: u64 = wait_until("the backfill", Duration::from_secs(240), || {
        let t = text();
        let line = t
            .lines()
            .find(|l| l.contains("readings of the last two days published"))?;
        line.split_whitespace().find_map(|w| w.parse().ok())
    });
    assert!(n >= 2 * 576, "{n} readings");
    // A few live periods and emissions, then Ctrl-C's signal: everything flushed.
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(demo.stop(), Some(0), "{}", text());
    assert!(text().contains("meilid demo stopped"), "{}", text());
    let store = std::fs::read_to_string(data.join("store/readings.lp")).unwrap();
    // The day before yesterday is complete with its night (to 06:00 yesterday): a valid day
    // and a valid night for the noise point, and a valid daily AQI for the station.
    let valid = |prefix: &str| {
        store
            .lines()
            .filter(|l| l.starts_with(prefix) && l.contains("valid=true"))
            .count()
    };
    assert!(
        valid("noise_period,device=n01,period=day") >= 1,
        "no valid day"
    );
    assert!(
        valid("noise_period,device=n01,period=night") >= 1,
        "no valid night"
    );
    assert!(valid("air_daily,device=a01") >= 1, "no valid daily AQI");
}
