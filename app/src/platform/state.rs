//! Server-side shared state: configuration, the database pool, the clock and the
//! per-request client facts, reached from server functions through Leptos context.

use crate::error::AppError;
use leptos::prelude::*;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

pub type Db = sqlx::AnyPool;

/// Whether Keyport runs for development (generates missing secrets) or production
/// (refuses to start without them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Dev,
    Production,
}

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per event, with the fields of its spans (for log collectors).
    Json,
}

/// A secret from configuration: never printed by `Debug`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}

/// Keyport's configuration. Defaults → optional TOML file → `KEYPORT_*` variables.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the portal listens on.
    pub listen: SocketAddr,
    /// `sqlite://path` or `postgres://…`.
    pub database_url: Secret,
    /// Folder for the SQLite database and generated secrets.
    pub data_dir: PathBuf,
    /// The URL users reach Keyport at (links, cookie `Secure`/`__Host-`).
    pub public_url: Option<String>,
    pub mode: Mode,
    /// 32 random bytes, base64: encrypts secrets at rest. Required in production mode.
    pub secret_key: Option<Secret>,
    pub session_idle_timeout_secs: u64,
    pub session_absolute_timeout_secs: u64,
    /// How long a second-factor check counts for sensitive actions (step-up).
    pub step_up_window_secs: u64,
    /// Whether a user without MFA must enrol before a sensitive action (otherwise they may
    /// proceed without step-up).
    pub step_up_requires_mfa: bool,
    /// Proxies (CIDRs) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub max_body_bytes: usize,
    pub request_timeout_secs: u64,
    /// `tracing` filter, e.g. `info` or `keyport=debug`.
    pub log: String,
    pub log_format: LogFormat,
    /// OpenID Connect providers users may sign in with (`[[oidc_providers]]`).
    pub oidc_providers: Vec<OidcProviderConfig>,
    /// Outgoing mail for notifications: `smtp://host:port`, `smtp://user:pass@host:587?tls=required`
    /// or `smtps://host:465`. Without it notifications stay in the portal.
    pub smtp_url: Option<Secret>,
    /// The sender of notification emails.
    pub smtp_from: String,
    /// The first part of every API key (`kp_live_…`): 2–10 lower-case letters or digits.
    pub key_prefix: String,
    /// How many usage events may wait for the writer; beyond, events are dropped (counted).
    pub usage_queue_capacity: usize,
    /// How long raw usage events are kept.
    pub usage_retention_days: u32,
    /// How long per-minute usage is kept (the last hour's charts read it).
    pub usage_minute_retention_days: u32,
    /// How long per-hour usage is kept (charts up to 30 days read it).
    pub usage_hour_retention_days: u32,
    /// How long per-day usage (and per-API hours) is kept; 0 keeps it.
    pub usage_day_retention_days: u32,
    /// Address the gateway (the proxy data plane) listens on; without it `keyport serve`
    /// runs no gateway.
    pub gateway_listen: Option<SocketAddr>,
    /// The gateway's address as callers reach it (`https://api.example.com`), shown on API
    /// pages; without it, `http://` and `gateway_listen`.
    pub gateway_public_url: Option<String>,
    /// How long the gateway waits to connect to an upstream (502 after it).
    pub gateway_connect_timeout_ms: u64,
    /// How long the gateway waits for an upstream's answer to begin (504 after it).
    pub gateway_timeout_secs: u64,
    /// The largest request body the gateway forwards (413 beyond it).
    pub gateway_max_body_bytes: u64,
    /// Whether upstreams may be loopback, link-local or cloud metadata addresses (refused
    /// by default, when saved and again when the gateway connects).
    pub gateway_allow_internal_upstreams: bool,
    /// A PEM file of certificate authorities the gateway trusts for `https://` upstreams
    /// beside the public ones (Mozilla's, built in): an internal CA.
    pub gateway_upstream_ca_file: Option<std::path::PathBuf>,
}

/// One OpenID Connect provider: a sign-in button, and how its claims map to roles.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// Slug used in URLs (`/auth/oidc/{id}/start`).
    pub id: String,
    /// Button text ("Sign in with {label}").
    pub label: String,
    /// Issuer URL; discovery reads `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    #[serde(default = "default_oidc_scopes")]
    pub scopes: Vec<String>,
    /// The ID-token claim (a string or a list of strings) that decides the role.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    #[serde(default)]
    pub admin_values: Vec<String>,
    #[serde(default)]
    pub publisher_values: Vec<String>,
}

fn default_oidc_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}

fn default_role_claim() -> String {
    "groups".into()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database_url: Secret("sqlite://./data/keyport.db".into()),
            data_dir: PathBuf::from("./data"),
            public_url: None,
            mode: Mode::Dev,
            secret_key: None,
            session_idle_timeout_secs: 30 * 60,
            session_absolute_timeout_secs: 12 * 60 * 60,
            step_up_window_secs: 300,
            step_up_requires_mfa: true,
            trusted_proxies: Vec::new(),
            max_body_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            log: "info".into(),
            log_format: LogFormat::Text,
            oidc_providers: Vec::new(),
            smtp_url: None,
            smtp_from: "Keyport <keyport@localhost>".into(),
            key_prefix: "kp".into(),
            usage_queue_capacity: 100_000,
            usage_retention_days: 30,
            usage_minute_retention_days: 2,
            usage_hour_retention_days: 90,
            usage_day_retention_days: 0,
            gateway_listen: None,
            gateway_public_url: None,
            gateway_connect_timeout_ms: 5_000,
            gateway_timeout_secs: 60,
            gateway_max_body_bytes: 100 * 1024 * 1024,
            gateway_allow_internal_upstreams: false,
            gateway_upstream_ca_file: None,
        }
    }
}

impl Config {
    /// The gateway's base URL as callers reach it, without a trailing `/`; `None` when this
    /// installation runs no gateway.
    pub fn gateway_url(&self) -> Option<String> {
        match (&self.gateway_public_url, self.gateway_listen) {
            (Some(url), _) => Some(url.trim_end_matches('/').to_string()),
            (None, Some(addr)) => Some(format!("http://{addr}")),
            (None, None) => None,
        }
    }

    /// How long each kind of usage record is kept.
    pub fn usage_retention(&self) -> super::rollup::Retention {
        super::rollup::Retention {
            raw_days: self.usage_retention_days,
            minute_days: self.usage_minute_retention_days,
            hour_days: self.usage_hour_retention_days,
            day_days: (self.usage_day_retention_days > 0).then_some(self.usage_day_retention_days),
        }
    }

    /// The base URL for links Keyport prints or shows.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }

    /// Cookies get `Secure` and the `__Host-` prefix when users reach Keyport over HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

/// Wall-clock time in unix milliseconds. Tests shift it forward instead of sleeping.
#[derive(Clone, Default, Debug)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> i64 {
        let system = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        system + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// Everything a request handler may need, built once at start-up. Cloned for every layer
/// of every request, so it is one `Arc` (cloning the fields one by one was 8% of a
/// verification's time).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub config: Arc<Config>,
    pub clock: Clock,
    /// A real Argon2id hash of a random password: verified against when an email is
    /// unknown, so both answers take the same time.
    pub dummy_hash: Arc<str>,
    /// Encrypts secrets at rest (from `KEYPORT_SECRET_KEY`, or generated in dev mode).
    pub secret_key: Arc<[u8; 32]>,
    /// The configured OpenID Connect providers and their discovered metadata.
    pub oidc: Arc<crate::platform::oidc::Providers>,
    /// Sends notification emails when SMTP is configured.
    pub mailer: Option<Arc<crate::platform::mail::Mailer>>,
    /// What gateways decide from: keys, their owners, subscriptions, plans and service
    /// tokens, in memory, kept current by the change feed.
    pub view: Arc<super::view::View>,
    /// The queue every decision's usage event goes into (written in batches).
    pub usage: Arc<super::usage::Recorder>,
    /// The rate-limit buckets of keys and subscriptions.
    pub limiter: Arc<super::limits::Limiter>,
    /// This instance's leases on plan quotas.
    pub quotas: Arc<super::quota::Quotas>,
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The state, inside a server function or a page render.
pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| AppError::internal("AppState not in context"))
}

/// Who is on the other end of a request: the client IP (proxy-aware) and user agent.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The facts of the current request, inside a server function or a page render.
    pub fn current() -> ClientInfo {
        use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<ClientInfo>().cloned())
            .unwrap_or_default()
    }

    pub fn ip_string(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_string())
    }
}

/// `2026-11-23 08:41 UTC`.
pub fn fmt_time(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// A random token (`bytes` of CSPRNG output, base64url) and its SHA-256 hex digest, which is
/// what gets stored.
pub fn new_token(bytes: usize) -> (String, String) {
    use base64::Engine;
    use rand::RngCore;
    let mut raw = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let digest = token_digest(&token);
    (token, digest)
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

pub fn token_digest(token: &str) -> String {
    hex::encode(digest_bytes(token))
}

/// SHA-256 of a token, as the in-memory view indexes keys and service tokens.
pub fn digest_bytes(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
