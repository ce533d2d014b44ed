//! API keys: developers issue keys for their applications and revoke them, both after a
//! recent second-factor check. Only a digest is stored; the key is shown once.

mod pages;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod verify;

pub use pages::{IssuedKeyNotice, KeysSection};

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Expiry presets offered when issuing: (value, label, hours; 0 = no expiry).
pub const EXPIRY_PRESETS: &[(&str, &str, i64)] = &[
    ("1h", "1 hour", 1),
    ("1d", "1 day", 24),
    ("7d", "7 days", 7 * 24),
    ("30d", "30 days", 30 * 24),
    ("90d", "90 days", 90 * 24),
    ("365d", "1 year", 365 * 24),
    ("never", "No expiry", 0),
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
    pub last_used: Option<String>,
    pub last_used_ip: Option<String>,
    /// `active`, `expired`, `exhausted` or `revoked`.
    pub state: String,
    pub revoke_reason: Option<String>,
}

/// What an application's keys may carry (from its active subscriptions' plans).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyPolicy {
    pub scopes: Vec<String>,
    /// The shortest maximum key lifetime among the plans, in days.
    pub max_lifetime_days: Option<i64>,
    pub active_subscriptions: usize,
}

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
    max_uses: Option<String>,
    ip_allowlist: Option<String>,
) -> Result<IssuedKey, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let input = service::IssueInput {
        name,
        environment,
        expires_in,
        scopes,
        max_uses: max_uses.unwrap_or_default(),
        ip_allowlist: ip_allowlist.unwrap_or_default(),
    };
    let parsed = service::parse_issue(&input)?;
    crate::auth::guard::require_recent_mfa(&user).await?;
    let ctx = crate::auth::service::Ctx::current().await?;
    service::issue(&ctx, &user, &application_id, parsed).await
}

/// Revokes a key at once, with a reason: the application's owner, or an admin (step-up).
#[server(prefix = "/api", endpoint = "revoke_key")]
pub async fn revoke_key(id: String, reason: String) -> Result<(), AppError> {
    let user = crate::auth::guard::require_user().await?;
    let reason =
        crate::domain::line(&reason, "a reason", 200).map_err(|e| AppError::field("reason", e))?;
    crate::auth::guard::require_recent_mfa(&user).await?;
    let ctx = crate::auth::service::Ctx::current().await?;
    service::revoke(&ctx, &user, &id, &reason).await
}
