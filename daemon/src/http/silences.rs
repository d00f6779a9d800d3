//! Runtime silences (`POST /api/v1/silences`, `DELETE /api/v1/silences/{id}`): a technician's
//! maintenance window. Bounded: `alerts.max_silences` at once, at most
//! `alerts.max_silence_days` long, 64 names per list, 1 KiB of comment; each write is audited.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::auth::Caller;
use super::Api;
use crate::config::alerts::SilenceConfig;

const MAX_NAMES: usize = 64;
const MAX_NAME_BYTES: usize = 64;
const MAX_COMMENT_BYTES: usize = 1024;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    #[serde(default)]
    sites: Vec<String>,
    #[serde(default)]
    devices: Vec<String>,
    #[serde(default)]
    rules: Vec<String>,
    /// From now for this long, unless `starts` and `ends` are given.
    duration_mins: Option<u32>,
    starts: Option<String>,
    ends: Option<String>,
    #[serde(default)]
    comment: String,
}

type Refusal = (StatusCode, String);

fn bad(msg: impl Into<String>) -> Refusal {
    (StatusCode::BAD_REQUEST, msg.into())
}

/// A technician's maintenance window: matching alerts are tracked but not delivered.
pub async fn add(
    State(s): State<Api>,
    Extension(caller): Extension<Caller>,
    Json(n): Json<NewSilence>,
) -> Result<Json<SilenceConfig>, Refusal> {
    let Some(store) = &s.alerts else {
        return Err((
            StatusCode::NOT_FOUND,
            "no [[alerts.rules]] configured".into(),
        ));
    };
    let now = jiff::Timestamp::now();
    let parse = |t: &str| {
        t.parse::<jiff::Timestamp>()
            .map_err(|_| bad(format!("{t:?} is not an RFC 3339 time")))
    };
    let max_days = s.view.max_silence_days;
    let longest = jiff::SignedDuration::from_hours(24 * max_days as i64);
    let (starts, ends) = match (&n.starts, &n.ends, n.duration_mins) {
        (Some(a), Some(b), None) => (parse(a)?, parse(b)?),
        (None, None, Some(m)) if m > 0 && u64::from(m) <= max_days * 24 * 60 => (
            now,
            now.checked_add(jiff::SignedDuration::from_mins(i64::from(m)))
                .map_err(|e| bad(e.to_string()))?,
        ),
        (None, None, Some(_)) => {
            return Err(bad(format!(
                "duration_mins must be 1 to {} (alerts.max_silence_days = {max_days})",
                max_days * 24 * 60
            )))
        }
        _ => return Err(bad("give duration_mins, or starts and ends")),
    };
    if ends <= starts {
        return Err(bad("ends must be after starts"));
    }
    if ends.duration_since(now) > longest || ends.duration_since(starts) > longest {
        return Err(bad(format!(
            "a silence may last {max_days} days at most (alerts.max_silence_days)"
        )));
    }
    if n.sites.is_empty() && n.devices.is_empty() && n.rules.is_empty() {
        return Err(bad(
            "name sites, devices or rules: a silence of everything is a config change",
        ));
    }
    for list in [&n.sites, &n.devices, &n.rules] {
        if list.len() > MAX_NAMES
            || list
                .iter()
                .any(|x| x.is_empty() || x.len() > MAX_NAME_BYTES)
        {
            return Err(bad(format!(
                "at most {MAX_NAMES} names per list, each 1 to {MAX_NAME_BYTES} bytes"
            )));
        }
    }
    if n.comment.len() > MAX_COMMENT_BYTES {
        return Err(bad(format!("comment: at most {MAX_COMMENT_BYTES} bytes")));
    }
    let mut id = [0u8; 8];
    getrandom::getrandom(&mut id)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let silence = SilenceConfig {
        id: id.iter().map(|b| format!("{b:02x}")).collect(),
        created_by: caller.name.clone(),
        sites: n.sites,
        devices: n.devices,
        rules: n.rules,
        starts: starts.to_string(),
        ends: ends.to_string(),
        comment: n.comment,
    };
    {
        let mut st = store.lock().unwrap_or_else(|e| e.into_inner());
        let max = s.view.max_silences;
        if st.silences.len() >= max {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                format!("{max} silences are active (alerts.max_silences); delete one first"),
            ));
        }
        st.silences.push(silence.clone());
    }
    tracing::info!(target: "meili::audit", who = %caller.name, client = ?caller.client,
        action = "silence.add", id = %silence.id, sites = ?silence.sites, devices = ?silence.devices,
        rules = ?silence.rules, starts = %silence.starts, ends = %silence.ends, "Audit: silence added.");
    s.alerts_changed.notify_one();
    Ok(Json(silence))
}

/// End a runtime silence now.
pub async fn remove(
    State(s): State<Api>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, Refusal> {
    let Some(store) = &s.alerts else {
        return Err((
            StatusCode::NOT_FOUND,
            "no [[alerts.rules]] configured".into(),
        ));
    };
    let removed = {
        let mut st = store.lock().unwrap_or_else(|e| e.into_inner());
        let before = st.silences.len();
        st.silences.retain(|x| x.id != id);
        before != st.silences.len()
    };
    if !removed {
        return Err((StatusCode::NOT_FOUND, format!("no silence {id:?}")));
    }
    tracing::info!(target: "meili::audit", who = %caller.name, client = ?caller.client,
        action = "silence.delete", id = %id, "Audit: silence deleted.");
    s.alerts_changed.notify_one();
    Ok(StatusCode::NO_CONTENT)
}
