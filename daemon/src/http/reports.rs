//! Reports kept on the gateway: what `meilid report --out {data_dir}/reports` wrote (a cron
//! job, docs/reports.md), listed and downloaded through the API (read scope).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::Api;

/// The report formats served and their media types.
const TYPES: [(&str, &str); 4] = [
    ("html", "text/html; charset=utf-8"),
    ("pdf", "application/pdf"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("csv", "text/csv; charset=utf-8"),
];

fn media_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1;
    TYPES.iter().find(|(e, _)| *e == ext).map(|(_, t)| *t)
}

/// A plain file name of a served type: no path, no hidden file.
fn acceptable(name: &str) -> bool {
    !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && name.len() <= 200
        && media_type(name).is_some()
}

/// `GET /api/v1/reports`: name, size and modification time of each report, newest first.
pub async fn list(State(s): State<Api>) -> Response {
    let dir = s.view.reports_dir.clone();
    let listed = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(meta) = e.metadata() else { continue };
            if !meta.is_file() || !acceptable(&name) {
                continue;
            }
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            out.push((modified, name, meta.len()));
        }
        out.sort_by(|a, b| b.cmp(a));
        out
    })
    .await
    .unwrap_or_default();
    let reports: Vec<_> = listed
        .into_iter()
        .map(|(modified, name, bytes)| {
            json!({
                "name": name,
                "bytes": bytes,
                "modified": s.view.rfc3339(modified),
                "url": format!("/api/v1/reports/{name}"),
            })
        })
        .collect();
    Json(json!({"dir": s.view.reports_dir.display().to_string(), "reports": reports}))
        .into_response()
}

/// `GET /api/v1/reports/{name}`: the file, with its media type; 404 for anything else.
pub async fn file(State(s): State<Api>, Path(name): Path<String>) -> Response {
    let Some(kind) = media_type(&name).filter(|_| acceptable(&name)) else {
        return (StatusCode::NOT_FOUND, "no such report").into_response();
    };
    let path = s.view.reports_dir.join(&name);
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, kind.to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}\"", name.replace('"', "")),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "no such report").into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_plain_report_names_are_served() {
        for ok in [
            "town-2026-10.pdf",
            "town-2026Q4.xlsx",
            "town-2026-10.csv",
            "a.html",
        ] {
            assert!(super::acceptable(ok), "{ok}");
        }
        for bad in [
            "../x.pdf",
            "..\\x.pdf",
            ".hidden.pdf",
            "state.json",
            "town-2026-10",
            "a/b.csv",
        ] {
            assert!(!super::acceptable(bad), "{bad}");
        }
    }
}
