//! Who may do what over HTTP (docs/security.md): bearer tokens with a scope (`read`, `write`,
//! `admin`, stored as SHA-256), the technician page's login session (an HttpOnly,
//! SameSite=Strict cookie; writes with it also need the `X-Requested-With: meili` header that
//! no cross-site form can send), the Host allow-list against DNS rebinding, and the audit log.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};

use super::Api;
use crate::config::http::{HttpConfig, Scope};

const COOKIE: &str = "meili_session";
/// Login sessions kept at once; the oldest goes first.
const MAX_SESSIONS: usize = 256;

/// The authenticated caller of a request (in its extensions, for the audit log).
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub scope: Scope,
    pub client: Option<SocketAddr>,
}

/// The client's address, set by the server for each connection.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

struct Session {
    name: String,
    scope: Scope,
    expires: Instant,
}

pub struct Auth {
    /// No tokens and a loopback listener (or `insecure_no_auth`): everyone is admin.
    open: bool,
    tokens: Vec<([u8; 32], String, Scope)>,
    sessions: Mutex<HashMap<String, Session>>,
    session_ttl: Duration,
    allowed_hosts: Vec<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("open", &self.open)
            .field("tokens", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("http.tokens[{index}].token_file {path}: {source}")]
    TokenFile {
        index: usize,
        path: String,
        source: std::io::Error,
    },
    #[error("http.tokens[{0}]: give sha256 or token_file")]
    NoToken(usize),
}

pub fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A new random token (32 bytes, hex) and its SHA-256 for `[[http.tokens]]`.
pub fn new_token() -> std::io::Result<(String, String)> {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).map_err(std::io::Error::other)?;
    let token = hex(&b);
    let hash = hex(&sha256(&token));
    Ok((token, hash))
}

/// Equal in time independent of where the bytes differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Auth {
    pub fn from_config(h: &HttpConfig, listen: SocketAddr) -> Result<Auth, AuthError> {
        let mut tokens = Vec::new();
        for (index, t) in h.tokens.iter().enumerate() {
            let hash = match (&t.sha256, &t.token_file) {
                (Some(s), _) => unhex(s).ok_or(AuthError::NoToken(index))?,
                (None, Some(p)) => {
                    let tok =
                        std::fs::read_to_string(p).map_err(|source| AuthError::TokenFile {
                            index,
                            path: p.display().to_string(),
                            source,
                        })?;
                    sha256(tok.trim_end())
                }
                (None, None) => return Err(AuthError::NoToken(index)),
            };
            tokens.push((hash, t.name.clone(), t.scope));
        }
        let open = tokens.is_empty() && (listen.ip().is_loopback() || h.insecure_no_auth);
        Ok(Auth {
            open,
            tokens,
            sessions: Mutex::new(HashMap::new()),
            session_ttl: Duration::from_secs(h.session_hours * 3600),
            allowed_hosts: h
                .allowed_hosts
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
        })
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    fn token(&self, token: &str) -> Option<(String, Scope)> {
        let h = sha256(token);
        self.tokens
            .iter()
            .find(|(t, _, _)| same(t, &h))
            .map(|(_, n, s)| (n.clone(), *s))
    }

    /// The caller by bearer token or session cookie; `true` when by cookie.
    fn identify(&self, headers: &HeaderMap) -> Option<(String, Scope, bool)> {
        if let Some(v) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            let tok = v.strip_prefix("Bearer ")?;
            return self.token(tok.trim()).map(|(n, s)| (n, s, false));
        }
        let id = cookie(headers, COOKIE)?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let s = sessions.get(&id)?;
        if s.expires <= Instant::now() {
            sessions.remove(&id);
            return None;
        }
        Some((s.name.clone(), s.scope, true))
    }

    fn login(&self, token: &str) -> Option<(String, String)> {
        let (name, scope) = self.token(token)?;
        let mut b = [0u8; 32];
        getrandom::getrandom(&mut b).ok()?;
        let id = hex(&b);
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            id.clone(),
            Session {
                name: name.clone(),
                scope,
                expires: now + self.session_ttl,
            },
        );
        Some((id, name))
    }

    fn logout(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, COOKIE) {
            self.sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        }
    }

    /// IP literals (DNS rebinding needs a name), `localhost`, and the configured names.
    fn host_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
            return true;
        };
        let name = match host.strip_prefix('[') {
            Some(v6) => {
                return v6
                    .split(']')
                    .next()
                    .is_some_and(|a| a.parse::<IpAddr>().is_ok())
            }
            None => host.rsplit_once(':').map_or(host, |(h, _)| h),
        };
        let name = name.to_ascii_lowercase();
        name.parse::<IpAddr>().is_ok() || name == "localhost" || self.allowed_hosts.contains(&name)
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The scope a request needs: reads `read`, everything else `write`.
fn needed(method: &Method) -> Scope {
    if matches!(*method, Method::GET | Method::HEAD) {
        Scope::Read
    } else {
        Scope::Write
    }
}

/// Middleware of the main listener: Host check, then authentication and scope.
pub async fn guard(State(s): State<Api>, mut req: Request, next: Next) -> Response {
    let auth = &s.auth;
    if !auth.host_allowed(req.headers()) {
        s.http.refused("host");
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "unknown Host: add it to http.allowed_hosts\n",
        )
            .into_response();
    }
    let client = req.extensions().get::<ClientAddr>().map(|c| c.0);
    let path = req.uri().path();
    if path == "/login" || path == "/logout" {
        return next.run(req).await;
    }
    let caller = if auth.open {
        Caller {
            name: "anonymous".into(),
            scope: Scope::Admin,
            client,
        }
    } else {
        let Some((name, scope, by_cookie)) = auth.identify(req.headers()) else {
            s.http.refused("unauthenticated");
            if path == "/" && req.method() == Method::GET {
                return Redirect::to("/login").into_response();
            }
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a bearer token (Authorization: Bearer …) or a login session is needed\n",
            )
                .into_response();
        };
        let need = needed(req.method());
        if scope < need {
            s.http.refused("scope");
            return (
                StatusCode::FORBIDDEN,
                format!(
                    "{name} has scope {}; this needs {}\n",
                    scope.as_str(),
                    need.as_str()
                ),
            )
                .into_response();
        }
        // A cookie rides along on any request the browser makes; a header a cross-site form
        // cannot set proves the page's own script sent this write.
        let from_page = req
            .headers()
            .get("x-requested-with")
            .is_some_and(|v| v == "meili");
        if by_cookie && need > Scope::Read && !from_page {
            s.http.refused("csrf");
            return (
                StatusCode::FORBIDDEN,
                "a write with a session cookie needs the X-Requested-With: meili header\n",
            )
                .into_response();
        }
        Caller {
            name,
            scope,
            client,
        }
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

const LOGIN: &str = include_str!("login.html");

pub async fn login_page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        LOGIN,
    )
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    token: String,
}

pub async fn login(
    State(s): State<Api>,
    client: Option<axum::Extension<ClientAddr>>,
    axum::Form(f): axum::Form<LoginForm>,
) -> Response {
    let client = client.map(|c| c.0 .0);
    match s.auth.login(f.token.trim()) {
        Some((id, name)) => {
            tracing::info!(target: "meili::audit", who = %name, client = ?client, action = "login", "Audit: login.");
            let cookie = format!(
                "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
                s.auth.session_ttl.as_secs()
            );
            (
                StatusCode::SEE_OTHER,
                [(header::SET_COOKIE, cookie), (header::LOCATION, "/".into())],
            )
                .into_response()
        }
        None => {
            s.http.refused("login");
            tracing::warn!(target: "meili::audit", client = ?client, action = "login", "Audit: login refused (unknown token).");
            (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                LOGIN.replace("<!--error-->", "<p class=err>Unknown token.</p>"),
            )
                .into_response()
        }
    }
}

pub async fn logout(State(s): State<Api>, headers: HeaderMap) -> Response {
    s.auth.logout(&headers);
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
            ),
            (header::LOCATION, "/login".into()),
        ],
    )
        .into_response()
}
