//! `POST /api/v1/devices/{site}/{id}/cmd` (extension; `write` scope): a command to a device
//! through the broker (`sinks::commands`). Streetlights take `dim` (`dim_pct` 0–100) and
//! `schedule` (`on_offset_min` after sunset, `off_offset_min` after sunrise, each within
//! ±240); noise meters `calibrate` (`reference_db`, the acoustic calibrator's level held on
//! the microphone, 80–130 dB); toilets `zero` (clean air on the gas cells; `gas` nh3 or h2s,
//! else both) and `span` (`gas`, `mg_m3` of span gas); every MQTT device takes `time` (the
//! gateway's clock). Audited.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use meili_firmware::Kind;
use serde_json::{json, Value};

use super::auth::Caller;
use super::Api;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    op: String,
    dim_pct: Option<u8>,
    on_offset_min: Option<i32>,
    off_offset_min: Option<i32>,
    reference_db: Option<f32>,
    gas: Option<String>,
    mg_m3: Option<f32>,
}

type Refusal = (StatusCode, String);

fn bad(msg: impl Into<String>) -> Refusal {
    (StatusCode::BAD_REQUEST, msg.into())
}

/// The command's fields besides `v` and `id`, or why the device cannot take it.
fn fields(kind: Kind, r: &CommandRequest) -> Result<Value, Refusal> {
    let offset_ok = |m: Option<i32>| m.is_none_or(|m| (-240..=240).contains(&m));
    match (r.op.as_str(), kind) {
        ("dim", Kind::Streetlight) => match r.dim_pct {
            Some(p) if p <= 100 => Ok(json!({"op": "dim", "dim_pct": p})),
            _ => Err(bad("dim needs dim_pct from 0 to 100")),
        },
        ("schedule", Kind::Streetlight) => {
            if r.on_offset_min.is_none() && r.off_offset_min.is_none() {
                return Err(bad("schedule needs on_offset_min or off_offset_min"));
            }
            if !offset_ok(r.on_offset_min) || !offset_ok(r.off_offset_min) {
                return Err(bad("offsets are minutes from -240 to 240"));
            }
            let mut v = json!({"op": "schedule"});
            if let Some(m) = r.on_offset_min {
                v["on_offset_min"] = json!(m);
            }
            if let Some(m) = r.off_offset_min {
                v["off_offset_min"] = json!(m);
            }
            Ok(v)
        }
        ("time", _) => Ok(json!({"op": "time", "ts": crate::time::unix_now()})),
        ("calibrate", Kind::Noise) => match r.reference_db {
            Some(db) if (80.0..=130.0).contains(&db) => {
                Ok(json!({"op": "calibrate", "reference_db": db}))
            }
            _ => Err(bad(
                "calibrate needs reference_db, the calibrator's level (80 to 130 dB)",
            )),
        },
        ("zero", Kind::Toilet) => match r.gas.as_deref() {
            None => Ok(json!({"op": "zero"})),
            Some(g @ ("nh3" | "h2s")) => Ok(json!({"op": "zero", "gas": g})),
            Some(g) => Err(bad(format!("{g:?}: gas is nh3 or h2s"))),
        },
        ("span", Kind::Toilet) => match (r.gas.as_deref(), r.mg_m3) {
            (Some(g @ ("nh3" | "h2s")), Some(c)) if c > 0.0 && c <= 1000.0 => {
                Ok(json!({"op": "span", "gas": g, "mg_m3": c}))
            }
            _ => Err(bad(
                "span needs gas (nh3 or h2s) and mg_m3, the span gas's concentration",
            )),
        },
        ("zero" | "span", k) => Err(bad(format!(
            "{} devices have no gas cells; zero and span are for toilets",
            k.as_str()
        ))),
        ("calibrate", k) => Err(bad(format!(
            "{} devices are not calibrated this way; calibrate is for noise meters",
            k.as_str()
        ))),
        ("dim" | "schedule", k) => Err(bad(format!(
            "{} devices take time; dim and schedule are for streetlights",
            k.as_str()
        ))),
        (op, _) => Err(bad(format!(
            "{op:?}: ops are dim, schedule, calibrate, zero, span, time"
        ))),
    }
}

/// Send a command; answers 202 with the command once the broker has it, 503 without one.
pub async fn send(
    State(s): State<Api>,
    Extension(caller): Extension<Caller>,
    Path((site, id)): Path<(String, String)>,
    Json(r): Json<CommandRequest>,
) -> Result<(StatusCode, Json<Value>), Refusal> {
    let Some((_, dev)) = s.registry.find(&site, &id) else {
        return Err((StatusCode::NOT_FOUND, format!("no device {site}/{id}")));
    };
    if dev.config.modbus.is_some() {
        return Err(bad("a Modbus device has no command topic"));
    }
    let Some(commands) = &s.commands else {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "no [mqtt] broker configured".into(),
        ));
    };
    let mut cmd = fields(dev.kind(), &r)?;
    cmd["v"] = json!(1);
    cmd["id"] = json!(commands.next_id());
    let path = format!("{site}/{}/{id}", dev.kind().as_str());
    let sent = commands.send(&path, &cmd).await;
    tracing::info!(target: "meili::audit", who = %caller.name, client = ?caller.client,
        action = "device.cmd", device = %path, command = %cmd, ok = sent.is_ok(), "Audit: command to a device.");
    match sent {
        Ok(()) => Ok((StatusCode::ACCEPTED, Json(cmd))),
        Err(e) => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the broker did not take the command: {e}"),
        )),
    }
}
