//! `meilid modbus probe`: read a unit once with a register map, for commissioning.

use std::time::Duration;

use crate::args::{Format, Modbus};

pub fn probe(what: Modbus) -> anyhow::Result<()> {
    use meili_daemon::sources::modbus::{map::RegisterMap, probe, Endpoint};
    let Modbus::Probe {
        tcp,
        rtu,
        baud,
        parity,
        stop_bits,
        unit,
        map,
        timeout_ms,
        format,
    } = what;
    let regs = RegisterMap::load(&map).map_err(|problems| {
        let lines: Vec<String> = problems
            .iter()
            .map(|(line, key, msg)| format!("{}:{line}: {key}: {msg}", map.display()))
            .collect();
        anyhow::anyhow!("{}", lines.join("\n"))
    })?;
    let endpoint = match (tcp, rtu) {
        (Some(t), _) => Endpoint::Tcp(t),
        (None, Some(path)) => Endpoint::Rtu {
            path,
            baud: baud.unwrap_or(9600),
            parity,
            stop_bits,
        },
        (None, None) => anyhow::bail!("give --tcp HOST:PORT or --rtu DEVICE --baud N"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let json = rt.block_on(probe::probe(
        &endpoint,
        unit,
        &regs,
        Duration::from_millis(timeout_ms),
    ))?;
    match format {
        Format::Json => println!("{json}"),
        Format::Table => {
            let v: serde_json::Value = serde_json::from_str(&json)?;
            println!("{endpoint} unit {unit} ({}):", regs.model);
            for f in regs.fields.iter().map(|f| f.get_ref()) {
                let key = if f.field == "fault" {
                    "faults"
                } else {
                    f.field.as_str()
                };
                let shown = v
                    .get(key)
                    .map_or("- (out of range)".to_string(), |x| x.to_string());
                println!(
                    "  {:<10} {:>10} {}  (register {:#06x})",
                    f.field,
                    shown,
                    f.unit.as_deref().unwrap_or(""),
                    f.address
                );
            }
        }
    }
    Ok(())
}
