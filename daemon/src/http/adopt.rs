//! `POST /api/v1/devices/pending/{site}/{id}/adopt` (extension; `write` scope): declare a
//! pending device with what the topic does not say (location, class, name …). Its entry is
//! appended to `daemon.adopt_file` (`config::adopt`), the registry takes it in at once, and
//! the messages it sent while pending (`transforms::pending`, the last 24 h) go through the
//! pipeline as if they had just arrived. Audited.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::auth::Caller;
use super::Api;
use crate::config::{DeviceConfig, RoadClass, ToiletClass, ZoneClass};
use crate::event::RawMessage;

/// What the technician fills in; the rest comes from the pending device's topic.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdoptRequest {
    lat: f64,
    lon: f64,
    name: Option<String>,
    zone_class: Option<ZoneClass>,
    area_km2: Option<f64>,
    road_class: Option<RoadClass>,
    toilet_class: Option<ToiletClass>,
    period_secs: Option<u32>,
    opening_hours: Option<String>,
    #[serde(default)]
    facilities: Vec<String>,
}

type Refusal = (StatusCode, String);

pub async fn adopt(
    State(s): State<Api>,
    Extension(caller): Extension<Caller>,
    Path((site, id)): Path<(String, String)>,
    Json(r): Json<AdoptRequest>,
) -> Result<Json<Value>, Refusal> {
    if s.registry.find(&site, &id).is_some() {
        return Err((
            StatusCode::CONFLICT,
            format!("{site}/{id} is already declared"),
        ));
    }
    let Some(file) = s.view.adopt_file.clone() else {
        return Err((
            StatusCode::CONFLICT,
            "set daemon.adopt_file (and list it in include) to adopt devices from the page".into(),
        ));
    };
    let now = crate::time::unix_now();
    let Some(pending) = s
        .pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&site, &id)
    else {
        return Err((
            StatusCode::NOT_FOUND,
            format!("no pending device {site}/{id}"),
        ));
    };
    let Some(kind) = meili_firmware::Kind::parse(&pending.kind) else {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("{:?} is not a device kind", pending.kind),
        ));
    };
    let device = DeviceConfig {
        id: id.clone(),
        site: site.clone(),
        kind,
        lat: r.lat,
        lon: r.lon,
        name: r.name.filter(|n| !n.trim().is_empty()),
        zone_class: r.zone_class,
        area_km2: r.area_km2,
        road_class: r.road_class,
        toilet_class: r.toilet_class,
        period_secs: r.period_secs,
        opening_hours: r.opening_hours.filter(|h| !h.trim().is_empty()),
        facilities: r.facilities,
        modbus: None,
    };
    let problems = crate::config::device_problems(&device);
    if !problems.is_empty() {
        return Err((StatusCode::BAD_REQUEST, problems.join("; ")));
    }
    let note = format!(
        "adopted by {} at {}",
        caller.name,
        s.view.rfc3339(now).unwrap_or_default()
    );
    let written = {
        let (file, device) = (file.clone(), device.clone());
        // One adoption at a time: the file is read, extended and replaced.
        static WRITING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _one = WRITING.lock().await;
        tokio::task::spawn_blocking(move || crate::config::adopt::append(&file, &device, &note))
            .await
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    };
    if let Err(e) = written {
        tracing::error!(error = %e, "Adopting a device: the devices file could not be written.");
        return Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string()));
    }
    let device_id = s
        .registry
        .adopt(device)
        .map_err(|e| (StatusCode::CONFLICT, e.to_string()))?;
    // After the registry has it: a message routed meanwhile is either in what is taken here
    // or finds the device (the validator looks again under the pending lock).
    let kept = s
        .pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take(&site, &id, now)
        .map(|(_, kept)| kept)
        .unwrap_or_default();
    let replayed = feed(&s, kept).await;
    tracing::info!(target: "meili::audit", who = %caller.name, client = ?caller.client,
        action = "device.adopt", device = %format!("{site}/{id}"), file = %file.display(),
        replayed, "Audit: pending device adopted.");
    Ok(Json(json!({
        "site": site, "id": id, "kind": kind.as_str(), "device_index": device_id,
        "file": file.display().to_string(), "replayed_messages": replayed,
    })))
}

/// Put kept messages on the ingest queue (waiting for room, never dropping); how many.
async fn feed(s: &Api, kept: Vec<crate::transforms::pending::Kept>) -> usize {
    let Some(tx) = s.ingest.get().and_then(|w| w.upgrade()) else {
        return 0;
    };
    let mut n = 0;
    for k in kept {
        let msg = RawMessage {
            topic: k.topic,
            payload: k.payload,
            delivery: None,
            budget: None,
        };
        if tx.send(msg).await.is_err() {
            break;
        }
        n += 1;
    }
    n
}
