//! Issue 18: provisioning as a technician does it. `meilid broker-config` issues the meter's
//! broker account; `meilid device provision` writes its configuration sector; QEMU's
//! `-device loader` puts the image where a programmer would, and the meter publishes as
//! `n07` through a broker that admits only known accounts, with nothing typed on its console.
//! Then the console: `get`, `set period_s`, `save`, `reboot`, and the change survives.

use std::process::Command;
use std::time::Duration;

use crate::firmware_qemu::Device;
use crate::util::*;

#[test]
fn provisioned_image_publishes_as_n07_and_console_changes_survive_a_reboot() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_port();
    std::fs::write(
        d.join("gateway.toml"),
        format!(
            "[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\nclient_id = \"meilid\"\nusername = \"meilid\"\npassword = \"daemon-pw-123\"\n\n\
             [provision]\nbroker_host = \"127.0.0.1\"\nbroker_port = {port}\napn = \"cmiot\"\npasswords_file = \"broker/device-passwords.csv\"\n\n\
             [[devices]]\nid = \"n07\"\nsite = \"town\"\nkind = \"noise\"\nlat = 23.36\nlon = 103.37\nzone_class = \"2\"\nperiod_secs = 2\n"
        ),
    )
    .unwrap();
    let meilid = |args: &[&str]| {
        run_ok(
            Command::new(env!("CARGO_BIN_EXE_meilid"))
                .args(args)
                .arg("--config")
                .arg(d.join("gateway.toml")),
        )
    };
    let out = d.join("broker").display().to_string();
    meilid(&["broker-config", "--out", &out]);
    let img = d.join("img").display().to_string();
    let printed = meilid(&[
        "device",
        "provision",
        "--device",
        "n07",
        "--board",
        "qemu",
        "--out",
        &img,
        "--set",
        "unit=3",
    ]);
    let image = d.join("img/town-n07.qemu.bin");
    assert_eq!(std::fs::metadata(&image).unwrap().len(), 8192, "{printed}");
    assert!(
        printed.contains("username=town/n07") && printed.contains("password=***"),
        "{printed}"
    );
    assert!(printed.contains("addr=0x00311000"), "{printed}");
    let product = meilid(&["device", "provision", "--device", "n07", "--out", &img]);
    assert!(
        product.contains(
            "probe-rs download --chip STM32F407VGTx --binary-format bin --base-address 0x080C0000"
        ),
        "{product}"
    );
    assert_eq!(
        std::fs::metadata(d.join("img/town-n07.stm32f407.bin"))
            .unwrap()
            .len(),
        256 * 1024
    );

    // The broker with the issued accounts; an independent subscriber as the daemon's account.
    let _mq = Mosquitto::start_conf(
        port,
        &format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {out}/passwd\nacl_file {out}/acl\npersistence false\nuser root\n"
        ),
        tempfile::tempdir().unwrap(),
    );
    let seen = d.join("sub.txt");
    let _sub = Proc::spawn(
        "mosquitto_sub",
        Command::new("mosquitto_sub").args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-u",
            "meilid",
            "-P",
            "daemon-pw-123",
            "-q",
            "1",
            "-v",
            "-t",
            "meili/v1/town/noise/#",
        ]),
        &seen,
    );
    let rtu = ModbusServer::rtu(&serde_json::json!({"units": {"3": {"holding": {"0": 612}}}}));
    let sensor = format!("serial,id=c2,path={}", rtu.tty.display());
    let loader = format!("loader,file={},addr=0x00311000", image.display());
    let dev = Device::boot_with_args(d, "noise", &sensor, None, &["-device".into(), loader]);
    // (The boot line comes before the test is on the console; the identity shows here.)
    dev.console.wait_for("mqtt: online as n07", 60);
    let telemetry = |period: u32| {
        std::fs::read_to_string(&seen)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("meili/v1/town/noise/n07/telemetry "))
            .filter(|l| {
                l.contains(&format!("\"period_s\":{period},")) && l.contains("\"laeq\":61.2")
            })
            .count()
    };
    wait_until(
        "n07's readings at the broker",
        Duration::from_secs(60),
        || (telemetry(2) >= 2).then_some(()),
    );

    // The console: read, change, save, reboot; the change and the provisioned identity stay.
    dev.console.send("get period_s");
    dev.console.wait_for("period_s=2", 10);
    dev.console.send("get username");
    dev.console.wait_for("username=town/n07", 10);
    dev.console.send("show");
    dev.console.wait_for("password=***", 10);
    dev.console.send("set period_s 5");
    dev.console.send("save");
    dev.console.wait_for("save: ok", 10);
    dev.console.send("reboot");
    dev.console.wait_for("id n07 reset software", 20);
    dev.console.wait_for_count("mqtt: online as n07", 2, 60);
    let before = dev.console.count("period_s=5");
    dev.console.send("get period_s");
    dev.console.wait_for_count("period_s=5", before + 1, 10);
    wait_until(
        "readings every 5 s after the reboot",
        Duration::from_secs(60),
        || (telemetry(5) >= 2).then_some(()),
    );
    eprintln!(
        "provisioned n07: {} readings at 2 s, then {} at 5 s after set/save/reboot",
        telemetry(2),
        telemetry(5)
    );
}
