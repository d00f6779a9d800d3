//! The HTTP API of CONTRACT §5: compliance figures, devices, the public toilet feed
//! (docs/api.md).

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use meili_firmware::Kind;
use serde_json::{json, Value};

use super::Api;
use crate::gateway::Shared;
use crate::registry::DeviceId;
use crate::sources::modbus::Endpoint;
use crate::standards::toilet::OpeningHours;
use crate::time::unix_now as now_unix;
use crate::transforms::live::{online, period_secs, DeviceState};

/// A reading as JSON with its f32 values written as they were received (0.009, not
/// 0.008999999612569809).
fn reading_json(r: &meili_firmware::Reading) -> Value {
    serde_json::to_string(r)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

fn device_json(s: &Shared, id: DeviceId, st: &DeviceState, now: i64) -> Value {
    let d = s.registry.get(id);
    let c = &d.config;
    let mut v = json!({
        "id": c.id,
        "site": c.site,
        "kind": c.kind.as_str(),
        "name": c.name,
        "lat": c.lat,
        "lon": c.lon,
        "period_s": period_secs(d, st),
        "online": online(d, st, now),
        "last_seen": st.last_seen_unix.and_then(|t| s.view.rfc3339(t)),
        "last_seen_unix": st.last_seen_unix,
        "age_s": st.last_seen_unix.map(|t| (now - t).max(0)),
        "readings": st.readings,
        "rejected": st.rejected,
        "last": st.last().map(reading_json),
        "status": st.status,
    });
    if let Some(z) = c.zone_class {
        v["zone_class"] = json!(z.as_str());
    }
    if let Some(r) = c.road_class {
        v["road_class"] = json!(r.as_str());
    }
    if let Some(t) = c.toilet_class {
        v["toilet_class"] = json!(t.as_str());
    }
    match &c.modbus {
        Some(m) => {
            v["source"] = json!("modbus");
            v["modbus"] = json!({
                "endpoint": Endpoint::of(m).map(|e| e.to_string()),
                "unit": m.unit,
                "map": m.map.display().to_string(),
                "interval_secs": m.interval_secs,
            });
        }
        None => {
            v["source"] = json!("mqtt");
            v["topic"] = json!(format!(
                "{}/{}/{}/{}/telemetry",
                s.view.prefix,
                c.site,
                c.kind.as_str(),
                c.id
            ));
        }
    }
    v
}

/// `GET /api/v1/devices`: every declared device with its live state.
pub async fn devices(State(s): State<Api>) -> impl IntoResponse {
    let now = now_unix();
    let live = s.live.lock().unwrap_or_else(|e| e.into_inner());
    let list: Vec<Value> = s
        .registry
        .iter()
        .map(|(id, _)| device_json(&s, id, live.get(id), now))
        .collect();
    let online = list.iter().filter(|d| d["online"] == true).count();
    Json(
        json!({"generated_at": s.view.rfc3339(now), "timezone": s.view.tz_name, "total": list.len(), "online": online, "devices": list}),
    )
}

/// `GET /api/v1/devices/pending`: devices that publish but are not declared, with the
/// `[[devices]]` entry that declares each (location and class to fill in).
pub async fn pending(State(s): State<Api>) -> impl IntoResponse {
    let list = s.pending.lock().unwrap_or_else(|e| e.into_inner()).list();
    let devices: Vec<Value> = list
        .into_iter()
        .map(|d| {
            let class = match d.kind.as_str() {
                "noise" => "zone_class = \"2\"  # 0 1 2 3 4a 4b\n",
                "streetlight" => "road_class = \"main\"  # main secondary branch alley\n",
                "toilet" => "toilet_class = \"2\"  # 1 2 3\n",
                _ => "",
            };
            let toml = format!(
                "[[devices]]\nid = \"{}\"\nsite = \"{}\"\nkind = \"{}\"\nlat = 0.0  # WGS-84\nlon = 0.0\n{class}",
                d.id, d.site, d.kind
            );
            let mut v = json!(d);
            v["first_seen"] = json!(s.view.rfc3339(d.first_seen_unix));
            v["last_seen"] = json!(s.view.rfc3339(d.last_seen_unix));
            v["declare"] = json!(toml);
            v
        })
        .collect();
    Json(json!({"timezone": s.view.tz_name, "devices": devices}))
}

/// `GET /api/v1/devices/{site}/{id}`: one device with its recent readings and, for Modbus
/// devices, its register map.
pub async fn device(
    State(s): State<Api>,
    Path((site, id)): Path<(String, String)>,
) -> Result<Json<Value>, (StatusCode, String)> {
    let now = now_unix();
    let Some((did, dev)) = s.registry.find(&site, &id) else {
        return Err((StatusCode::NOT_FOUND, format!("no device {site}/{id}")));
    };
    let mut v = {
        let live = s.live.lock().unwrap_or_else(|e| e.into_inner());
        let st = live.get(did);
        let mut v = device_json(&s, did, st, now);
        v["recent"] = json!(st.recent.iter().rev().map(reading_json).collect::<Vec<_>>());
        v["timezone"] = json!(s.view.tz_name);
        v
    };
    if let Some(m) = &dev.config.modbus {
        if let Some(map) = s.view.maps.get(&m.map) {
            let fields: Vec<Value> = map
                .fields
                .iter()
                .map(|f| {
                    let f = f.get_ref();
                    json!({
                        "field": f.field,
                        "address": f.address,
                        "function": format!("{:?}", f.function).to_lowercase(),
                        "type": format!("{:?}", f.data_type).to_lowercase(),
                        "scale": f.scale,
                        "offset": f.offset,
                        "unit": f.unit,
                    })
                })
                .collect();
            v["register_map"] =
                json!({"model": map.model, "description": map.description, "fields": fields});
        }
    }
    Ok(Json(v))
}

#[derive(Debug, serde::Deserialize)]
pub struct ComplianceQuery {
    site: Option<String>,
    metric: Option<String>,
    window: Option<String>,
}

/// `GET /api/v1/compliance[?site=&metric=&window=]`: the latest figures per site and metric
/// for the day, month, quarter and year windows, with numerator and denominator.
pub async fn compliance(
    State(s): State<Api>,
    Query(q): Query<ComplianceQuery>,
) -> impl IntoResponse {
    let rows = s.compliance.lock().map(|r| r.clone()).unwrap_or_default();
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| q.site.as_ref().is_none_or(|x| *x == r.site))
        .filter(|r| q.metric.as_ref().is_none_or(|x| *x == r.metric))
        .filter(|r| q.window.as_deref().is_none_or(|x| x == r.window))
        .collect();
    Json(json!({"generated_at": s.view.rfc3339(now_unix()), "rows": rows}))
}

/// schema.org `openingHours` for the same hours every day ("Mo-Su 06:00-22:00").
pub fn schema_org_hours(h: &OpeningHours) -> String {
    let hm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
    if *h == OpeningHours::ALWAYS {
        "Mo-Su 00:00-24:00".into()
    } else {
        format!("Mo-Su {}-{}", hm(h.open_min), hm(h.close_min))
    }
}

/// `GET /api/v1/toilets.geojson`: the public toilet map feed (RFC 7946 FeatureCollection,
/// coordinates `[lon, lat]`).
#[derive(serde::Deserialize)]
pub struct ToiletsQuery {
    /// `wgs84` (default, as RFC 7946 requires) or `gcj02` for Chinese map apps.
    crs: Option<String>,
}

pub async fn toilets(State(s): State<Api>, Query(q): Query<ToiletsQuery>) -> Response {
    let gcj02 = match q.crs.as_deref() {
        None | Some("wgs84") => false,
        Some("gcj02") => true,
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("crs {other:?}: wgs84 (default) or gcj02"),
            )
                .into_response()
        }
    };
    let now = now_unix();
    let local = jiff::Timestamp::from_second(now)
        .map(|t| t.to_zoned(s.view.tz.clone()))
        .ok();
    let local_min = local
        .as_ref()
        .map_or(0, |z| z.hour() as u32 * 60 + z.minute() as u32);
    let live = s.live.lock().unwrap_or_else(|e| e.into_inner());
    let features: Vec<Value> = s
        .registry
        .iter()
        .filter(|(_, d)| d.kind() == Kind::Toilet)
        .map(|(id, d)| {
            let c = &d.config;
            let st = live.get(id);
            let text = c.opening_hours.as_deref().unwrap_or(&s.view.toilet_hours);
            let hours = OpeningHours::parse(text).unwrap_or(OpeningHours::ALWAYS);
            let fresh = online(d, st, now);
            let last = st.last().filter(|_| fresh);
            let scheduled = hours.is_open_at(local_min);
            // Open now: within its hours and not reported closed.
            let open_now = scheduled && last.and_then(|r| r.open).unwrap_or(true);
            let free = last.and_then(|r| Some(r.stalls?.saturating_sub(r.occupied?)));
            let (lon, lat) = if gcj02 {
                let l = crate::event::Location::from_wgs84(c.lat, c.lon);
                (l.lon_gcj02, l.lat_gcj02)
            } else {
                (c.lon, c.lat)
            };
            json!({
                "type": "Feature",
                "id": format!("{}/{}", c.site, c.id),
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {
                    "id": c.id,
                    "site": c.site,
                    "name": c.name,
                    "class": c.toilet_class.map(|t| t.as_str()),
                    "openingHours": schema_org_hours(&hours),
                    "open_now": open_now,
                    "stalls": last.and_then(|r| r.stalls),
                    "free_stalls": free,
                    "facilities": c.facilities,
                    "wheelchair": c.facilities.iter().any(|f| f == "wheelchair"),
                    "online": fresh,
                    "updated": st.last_seen_unix.and_then(|t| s.view.rfc3339(t)),
                },
            })
        })
        .collect();
    (
        [
            (header::CONTENT_TYPE, "application/geo+json"),
            // A public feed: map apps on other origins may fetch it from a browser.
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::CACHE_CONTROL, "public, max-age=30"),
        ],
        Json(json!({
            "type": "FeatureCollection",
            // A foreign member (RFC 7946 §6.1): which datum the coordinates are in.
            "coordinate_system": if gcj02 { "GCJ-02" } else { "WGS-84" },
            "features": features,
        })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_hours_in_schema_org_form_and_across_midnight() {
        let h = OpeningHours::parse("06:00-22:00").unwrap();
        assert_eq!(schema_org_hours(&h), "Mo-Su 06:00-22:00");
        assert!(h.is_open_at(6 * 60) && !h.is_open_at(22 * 60));
        let n = OpeningHours::parse("18:00-02:00").unwrap();
        assert!(n.is_open_at(60) && n.is_open_at(23 * 60) && !n.is_open_at(12 * 60));
        assert_eq!(schema_org_hours(&OpeningHours::ALWAYS), "Mo-Su 00:00-24:00");
    }
}
