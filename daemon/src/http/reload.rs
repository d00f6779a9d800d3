//! `POST /api/v1/reload` (extension; `write` scope): read the configuration file again, as
//! SIGHUP does (`crate::reload`). 200 with what was applied and what needs a restart; 422 with
//! every error when the file does not validate (the running configuration stays). Audited.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::auth::Caller;
use super::Api;

pub async fn reload(
    State(s): State<Api>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, (StatusCode, String)> {
    let Some(r) = s.reload.clone() else {
        return Err((
            StatusCode::CONFLICT,
            "this daemon was not started from a configuration file".into(),
        ));
    };
    let done = tokio::task::spawn_blocking(move || r.reload())
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    tracing::info!(target: "meili::audit", who = %caller.name, client = ?caller.client,
        action = "config.reload", ok = done.is_ok(), "Audit: configuration reload.");
    match done {
        Ok(o) => Ok(Json(json!(o))),
        Err(e) => Err((StatusCode::UNPROCESSABLE_ENTITY, e.to_string())),
    }
}
