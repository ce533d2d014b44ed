//! API keys: developers issue, rotate (with a grace period) and revoke keys for their
//! applications, each after a recent second-factor check; admins see and revoke every key
//! and set the lifecycle policy. Only a digest is stored; the key is shown once.

// A server function's arguments are its form's fields.
#![allow(clippy::too_many_arguments)]

mod admin;
#[cfg(feature = "ssr")]
pub mod leaks;
#[cfg(feature = "ssr")]
pub mod lifecycle;
mod pages;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod settings;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod verify;

pub use admin::{AllKeysPage, KeySettingsSection};
pub use pages::{IssuedKeyNotice, KeysSection};

use crate::domain::LeakAction;

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Expiry presets offered when issuing: (value, label, hours; 0 = no expiry, -1 = the
/// date and time in `expires_at`).
pub const EXPIRY_PRESETS: &[(&str, &str, i64)] = &[
    ("1h", "1 hour", 1),
    ("1d", "1 day", 24),
    ("7d", "7 days", 7 * 24),
    ("30d", "30 days", 30 * 24),
    ("90d", "90 days", 90 * 24),
    ("365d", "1 year", 365 * 24),
    ("never", "No expiry", 0),
    ("at", "At a date and time…", -1),
];

/// Grace periods offered when rotating: (value, label).
pub const GRACE_PRESETS: &[(&str, &str)] = &[
    ("0", "None: the old key stops now"),
    ("5m", "5 minutes"),
    ("15m", "15 minutes"),
    ("30m", "30 minutes"),
    ("1h", "1 hour"),
    ("6h", "6 hours"),
    ("24h", "1 day"),
    ("3d", "3 days"),
    ("7d", "7 days"),
];

/// A key as lists show it: never the key itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub environment: String,
    pub prefix: String,
    pub last4: String,
    pub scopes: Vec<String>,
    pub created: String,
    pub created_by: Option<String>,
    pub expires: Option<String>,
    pub max_uses: Option<i64>,
    pub remaining_uses: Option<i64>,
    pub ip_allowlist: Vec<String>,
    /// The APIs it may call (empty: all of its application's).
    pub apis: Vec<String>,
    /// "5 requests per second" when the key has its own limit.
    pub rate: Option<String>,
    /// "per day" or "per month" when its uses are refilled.
    pub refill: Option<String>,
    pub last_used: Option<String>,
    pub last_used_ip: Option<String>,
    /// `active`, `grace` (rotated, still valid), `rotated`, `expired`, `exhausted` or `revoked`.
    pub state: String,
    pub revoke_reason: Option<String>,
    /// The key this one replaced (prefix…last4).
    pub replaces: Option<String>,
    pub rotation: Option<RotationView>,
    /// Why a leak report flagged it.
    pub flagged: Option<String>,
    pub application: String,
    pub owner: Option<String>,
}

/// A rotated key: its successor, and its traffic since, to see when clients have moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RotationView {
    pub successor: String,
    pub rotated: String,
    /// When it stops working.
    pub until: Option<String>,
    pub uses_since: i64,
    pub last_used: Option<String>,
}

/// An API an application's keys may be limited to, with its plan's rate limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyApi {
    pub id: String,
    pub name: String,
    /// The plan's limit, "10 requests per second".
    pub rate: Option<String>,
    /// The same in requests per minute, to check a key's own limit against (server only).
    #[serde(skip)]
    pub per_minute: Option<i64>,
}

/// What an application's keys may carry (from its active subscriptions' plans).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyPolicy {
    pub scopes: Vec<String>,
    /// The shortest maximum key lifetime among the plans and the portal's policy, in days.
    pub max_lifetime_days: Option<i64>,
    pub active_subscriptions: usize,
    /// The APIs of the active subscriptions.
    pub apis: Vec<PolicyApi>,
}

/// The portal-wide key lifecycle policy (admin settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySettings {
    /// No key may live longer (plans may set less).
    pub max_lifetime_days: Option<i64>,
    /// Keys older than this stop working: rotate before.
    pub rotation_days: Option<i64>,
    /// Owners are reminded this many days before a key expires or reaches the rotation age.
    pub reminder_days: i64,
    pub leak_action: LeakAction,
}

/// One page of the admin's list of every key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeysPage {
    pub items: Vec<KeyView>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// A key issued (or rotated) by a form posted without JavaScript: the server renders the
/// applications page with it, in the answer to the post (server only).
#[derive(Debug, Clone)]
pub struct JustIssued(pub IssuedKey);

/// A key just issued: `key` is shown this once and stored nowhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedKey {
    pub key: String,
    pub application: String,
    pub view: KeyView,
}

/// Issues a key for one of the caller's applications (step-up).
#[server(prefix = "/api", endpoint = "issue_key")]
pub async fn issue_key(
    application_id: String,
    name: String,
    environment: String,
    expires_in: String,
    scopes: String,
    expires_at: Option<String>,
    max_uses: Option<String>,
    ip_allowlist: Option<String>,
    apis: Option<Vec<String>>,
    rate_limit: Option<String>,
    rate_period: Option<String>,
    refill: Option<String>,
    step_up_code: Option<String>,
) -> Result<IssuedKey, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let input = service::IssueInput {
        name,
        environment,
        expires_in,
        expires_at: expires_at.unwrap_or_default(),
        scopes,
        max_uses: max_uses.unwrap_or_default(),
        ip_allowlist: ip_allowlist.unwrap_or_default(),
        apis: apis.unwrap_or_default(),
        rate_limit: rate_limit.unwrap_or_default(),
        rate_period: rate_period.unwrap_or_else(|| "second".into()),
        refill: refill.unwrap_or_default(),
    };
    let parsed = service::parse_issue(&input)?;
    crate::auth::guard::require_step_up(&user, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::issue(&ctx, &user, &application_id, parsed).await
}

/// Replaces a key by a new one with the same attributes; the old one keeps working for the
/// grace period (`0`, `30m`, `12h`, up to `7d`), never past its own expiry (step-up).
#[server(prefix = "/api", endpoint = "rotate_key")]
pub async fn rotate_key(
    id: String,
    grace: String,
    step_up_code: Option<String>,
) -> Result<IssuedKey, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let grace_ms = crate::domain::parse_grace(&grace).map_err(|e| AppError::field("grace", e))?;
    crate::auth::guard::require_step_up(&user, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::rotate(&ctx, &user, &id, grace_ms).await
}

/// Revokes every key of an application still in force: its owner, or an admin (step-up).
/// Answers how many keys were revoked.
#[server(prefix = "/api", endpoint = "revoke_application_keys")]
pub async fn revoke_application_keys(
    application_id: String,
    reason: String,
    step_up_code: Option<String>,
) -> Result<usize, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let reason =
        crate::domain::line(&reason, "a reason", 200).map_err(|e| AppError::field("reason", e))?;
    crate::auth::guard::require_step_up(&user, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::revoke_all(&ctx, &user, &application_id, &reason).await
}

/// Every key in the portal (admins): search, state filter (`live`, `revoked`, `flagged`).
#[server(prefix = "/api", endpoint = "all_keys")]
pub async fn all_keys(
    search: Option<String>,
    state: Option<String>,
    page: Option<i64>,
) -> Result<KeysPage, AppError> {
    use crate::domain::Role;
    crate::auth::guard::require_role(&[Role::Admin], "keys.list").await?;
    let state = match state.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s @ ("live" | "revoked" | "flagged")) => Some(s),
        Some(_) => {
            return Err(AppError::field(
                "state",
                "Choose live, revoked or flagged (or nothing for every key).",
            ))
        }
    };
    let app = crate::platform::state::app_state()?;
    service::list_all(&app, search.as_deref(), state, page.unwrap_or(1)).await
}

#[server(prefix = "/api", endpoint = "get_key_settings")]
pub async fn get_key_settings() -> Result<KeySettings, AppError> {
    use crate::domain::Role;
    crate::auth::guard::require_role(&[Role::Admin], "settings.read").await?;
    settings::load(&crate::platform::state::app_state()?.db).await
}

#[server(prefix = "/api", endpoint = "update_key_settings")]
pub async fn update_key_settings(
    max_lifetime_days: String,
    rotation_days: String,
    reminder_days: String,
    leak_action: String,
    step_up_code: Option<String>,
) -> Result<(), AppError> {
    use crate::domain::Role;
    use crate::platform::audit::Event;
    let admin = crate::auth::guard::require_role(&[Role::Admin], "settings.update").await?;
    let new = settings::parse(
        &max_lifetime_days,
        &rotation_days,
        &reminder_days,
        &leak_action,
    )?;
    // The policy decides how long keys live and what a leak does to them.
    crate::auth::guard::require_step_up(&admin, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    let before = settings::load(&ctx.state.db).await?;
    settings::save(&ctx.state.db, &new, &admin.id, ctx.now).await?;
    ctx.audit(
        Event::new("settings.update")
            .actor(&admin.id, &admin.email)
            .target("setting", "key_policy")
            .details(serde_json::json!({ "from": before, "to": new })),
    )
    .await
}

/// Revokes a key at once, with a reason: the application's owner, or an admin (step-up).
#[server(prefix = "/api", endpoint = "revoke_key")]
pub async fn revoke_key(
    id: String,
    reason: String,
    step_up_code: Option<String>,
) -> Result<(), AppError> {
    let user = crate::auth::guard::require_user().await?;
    let reason =
        crate::domain::line(&reason, "a reason", 200).map_err(|e| AppError::field("reason", e))?;
    crate::auth::guard::require_step_up(&user, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::revoke(&ctx, &user, &id, &reason).await
}
