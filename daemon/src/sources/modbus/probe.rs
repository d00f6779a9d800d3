//! `meilid modbus probe`: read a unit once with a register map and decode it, to commission a
//! device on site (CONTRACT §5).

use std::time::Duration;

use super::bus::{connect, fields_json, read_block, Failure};
use super::map::RegisterMap;
use super::Endpoint;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot open {endpoint}: {source}")]
    Connect {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("{endpoint} unit {unit}: no answer within {timeout_ms} ms")]
    Timeout {
        endpoint: String,
        unit: u8,
        timeout_ms: u64,
    },
    #[error("{endpoint} unit {unit}: exception {code:#04x} reading {count} registers at {address:#06x} ({meaning})")]
    Exception {
        endpoint: String,
        unit: u8,
        code: u8,
        address: u16,
        count: u16,
        meaning: &'static str,
    },
    #[error("{endpoint} unit {unit}: transport error (bad CRC, wrong reply, or the line closed)")]
    Transport { endpoint: String, unit: u8 },
}

fn meaning(code: u8) -> &'static str {
    match code {
        1 => "illegal function",
        2 => "illegal data address: check the map's addresses and function",
        3 => "illegal data value",
        4 => "server device failure",
        6 => "server busy",
        10 | 11 => "gateway: target not reachable",
        _ => "device-specific",
    }
}

/// Read every block of `map` from `unit` once; the contract fields as one JSON object.
pub async fn probe(
    endpoint: &Endpoint,
    unit: u8,
    map: &RegisterMap,
    timeout: Duration,
) -> Result<String, ProbeError> {
    let ep = endpoint.to_string();
    let mut ctx = tokio::time::timeout(timeout, connect(endpoint, unit))
        .await
        .map_err(|_| ProbeError::Timeout {
            endpoint: ep.clone(),
            unit,
            timeout_ms: timeout.as_millis() as u64,
        })?
        .map_err(|source| ProbeError::Connect {
            endpoint: ep.clone(),
            source,
        })?;
    let mut read = Vec::new();
    for b in map.blocks() {
        tokio::time::sleep(endpoint.gap()).await;
        match read_block(&mut ctx, b.function, b.address, b.count, timeout).await {
            Ok(words) => read.push((b.address, b.function, words)),
            Err(Failure::Timeout) => {
                return Err(ProbeError::Timeout {
                    endpoint: ep,
                    unit,
                    timeout_ms: timeout.as_millis() as u64,
                })
            }
            Err(Failure::Exception(code)) => {
                return Err(ProbeError::Exception {
                    endpoint: ep,
                    unit,
                    code,
                    address: b.address,
                    count: b.count,
                    meaning: meaning(code),
                })
            }
            Err(Failure::Transport) => return Err(ProbeError::Transport { endpoint: ep, unit }),
        }
    }
    let mut oor = 0;
    let fields = fields_json(map, &read, &mut oor);
    Ok(format!(
        "{{{}}}",
        fields.strip_prefix(',').unwrap_or(&fields)
    ))
}
