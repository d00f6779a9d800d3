//! Issue 6: `meilid simulate` drives devices of every kind (measured by the firmware's code),
//! with link outages and backlog uploads, through mosquitto into a gateway that accepts them.

use std::time::Duration;

use crate::util::*;

#[test]
fn simulated_fleet_of_every_kind_is_accepted_by_a_gateway() {
    let mq = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let modbus = format!("127.0.0.1:{}", free_port());
    let maps = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/modbus");
    let maps = maps.display().to_string();
    // Three more noise meters are served over Modbus TCP and polled by the gateway.
    let sim_args = [
        "--site",
        "sim",
        "--noise",
        "3",
        "--air",
        "2",
        "--toilet",
        "2",
        "--streetlight",
        "4",
        "--modbus-noise",
        "3",
        "--modbus-tcp",
        &modbus,
        "--map-dir",
        &maps,
        "--period-secs",
        "1",
    ];
    let broker = format!("127.0.0.1:{}", mq.port);
    let devices = simulated_devices(&[&["--broker", &broker][..], &sim_args].concat());
    let config = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-sim\"\n\n{devices}",
        mq.url()
    );
    let m = Meilid::start(dir.path(), &config);
    let (text, published) = simulate(
        &[
            &["--broker", &broker][..],
            &sim_args,
            &["--offline-pct", "30", "--duration", "8s"],
        ]
        .concat(),
    );
    assert!(published >= 11.0, "{text}");
    let accepted = |kind: &str| {
        m.metric("meili_readings_accepted_total", &format!("kind=\"{kind}\""))
            .unwrap_or(0.0)
    };
    wait_until("readings accepted", Duration::from_secs(20), || {
        let total: f64 = ["noise", "air", "toilet", "streetlight"]
            .iter()
            .map(|k| accepted(k))
            .sum();
        (total >= published).then_some(())
    });
    for kind in ["noise", "air", "toilet", "streetlight"] {
        assert!(accepted(kind) > 0.0, "{kind}");
    }
    let rejected: f64 = m
        .metrics()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("meili_readings_rejected_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(rejected, 0.0, "every simulated reading is valid");
    for u in 1..=3 {
        let labels = format!("device=\"sim/m{u:04}\",bus=\"tcp://{modbus}\"");
        let polls = m.metric("meili_modbus_polls_total", &labels).unwrap_or(0.0);
        let failed = m
            .metric("meili_modbus_polls_failed_total", &labels)
            .unwrap_or(0.0);
        assert!(
            polls - failed >= 3.0,
            "m{u:04}: {polls} polls, {failed} failed"
        );
    }
}

/// The simulated Modbus meters also answer as RTU slaves on a serial line (a socat pty pair
/// here): the gateway polls every unit on the line and their readings are accepted.
#[test]
fn simulated_rtu_meters_are_polled_over_a_serial_line() {
    let mq = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (_socat, device_end, gateway_end) = pty_pair(dir.path(), "sim", "gw");
    let maps = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/modbus");
    let (maps, device_end, gateway_end) = (
        maps.display().to_string(),
        device_end.display().to_string(),
        gateway_end.display().to_string(),
    );
    let broker = format!("127.0.0.1:{}", mq.port);
    let sim_args = [
        "--broker",
        &broker,
        "--site",
        "sim",
        "--modbus-noise",
        "4",
        "--modbus-rtu",
        &device_end,
        "--modbus-baud",
        "19200",
        "--map-dir",
        &maps,
        "--period-secs",
        "1",
    ];
    let devices = simulated_devices(&[&sim_args[..], &["--gateway-rtu", &gateway_end]].concat());
    assert!(devices.contains(&format!("rtu = \"{gateway_end}\", baud = 19200")));
    let config = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-rtu\"\n\n{devices}",
        mq.url()
    );
    let m = Meilid::start(dir.path(), &config);
    simulate(&[&sim_args[..], &["--duration", "8s"]].concat());
    let bus = format!("bus=\"rtu://{gateway_end}@19200\"");
    for u in 1..=4 {
        let labels = format!("device=\"sim/m{u:04}\",{bus}");
        let polls = m.metric("meili_modbus_polls_total", &labels).unwrap_or(0.0);
        let failed = m
            .metric("meili_modbus_polls_failed_total", &labels)
            .unwrap_or(0.0);
        assert!(
            polls - failed >= 3.0,
            "m{u:04}: {polls} polls, {failed} failed"
        );
    }
    let accepted = m
        .metric("meili_readings_accepted_total", "kind=\"noise\"")
        .unwrap_or(0.0);
    assert!(accepted >= 12.0, "{accepted} noise readings accepted");
    let out_of_range: f64 = m
        .metrics()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("meili_modbus_values_out_of_range_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(out_of_range, 0.0);
}
