//! The verify decision: what a gateway asks ("may this key call this API, with this scope,
//! from this address?") and Keyport's answer with a machine-readable code. One indexed
//! lookup by digest (the key, its application, owner and subscription to the API in one
//! statement), then, when valid, one atomic update that counts the use.

use super::store::words;
use crate::domain::{ApiKey, SubscriptionState};
use crate::error::AppError;
use crate::state::{fmt_time, token_digest, AppState};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// What a gateway asks.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The API key the client presented.
    #[schema(example = "kp_live_…")]
    pub key: String,
    /// The slug of the API being called.
    #[schema(example = "pet-store")]
    pub api: String,
    /// A scope the call needs (optional).
    pub scope: Option<String>,
    /// The client's IP address, checked against the key's allowlist (optional).
    pub ip: Option<String>,
}

/// Why a key is valid or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    Valid,
    Malformed,
    NotFound,
    Expired,
    Revoked,
    Exhausted,
    IpNotAllowed,
    ScopeDenied,
    ApiNotAllowed,
    SubscriptionInactive,
}

/// Keyport's answer; the identity fields are present only when `valid`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VerifyAnswer {
    pub valid: bool,
    pub code: Code,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Uses left (`null`: unlimited).
    pub remaining: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The key's own rate limit, for the gateway to enforce, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<KeyRate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyRate {
    pub requests: i64,
    /// `second` or `minute`.
    pub period: String,
}

impl VerifyAnswer {
    fn refused(code: Code) -> Self {
        VerifyAnswer {
            valid: false,
            code,
            key_id: None,
            application: None,
            owner: None,
            environment: None,
            scopes: None,
            remaining: None,
            expires_at: None,
            rate_limit: None,
        }
    }
}

/// Decides on `req` at `now`; a valid verification records the key's last use.
pub async fn verify(
    state: &AppState,
    req: &VerifyRequest,
    now: i64,
) -> Result<VerifyAnswer, AppError> {
    let Ok(key) = ApiKey::parse(&req.key) else {
        return Ok(VerifyAnswer::refused(Code::Malformed));
    };
    // The key, and the application's subscription to the API: the live one if any, else
    // the latest ("state api_id").
    let row = sqlx::query(
        "SELECT k.id, k.environment, k.scopes, k.api_ids, k.expires_at, k.revoked_at, \
         k.ip_allowlist, k.rate_limit, k.rate_period, ap.name AS application, u.email AS owner, \
         (SELECT s.state || ' ' || s.api_id FROM subscriptions s JOIN apis a ON a.id = s.api_id \
          WHERE s.application_id = k.application_id AND a.slug = $2 \
          ORDER BY CASE WHEN s.state IN ('pending', 'active', 'suspended') THEN 0 ELSE 1 END, \
          s.updated_at DESC LIMIT 1) AS subscription \
         FROM api_keys k JOIN applications ap ON ap.id = k.application_id \
         LEFT JOIN users u ON ap.owner_kind = 'user' AND u.id = ap.owner_id WHERE k.digest = $1",
    )
    .bind(token_digest(key.expose()))
    .bind(&req.api)
    .fetch_optional(&state.db)
    .await?;
    let Some(row) = row else {
        return Ok(VerifyAnswer::refused(Code::NotFound));
    };
    let key_id: String = row.try_get("id")?;
    let expires_at: Option<i64> = row.try_get("expires_at")?;
    let scopes = words(&row, "scopes")?;
    if row.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
        return Ok(VerifyAnswer::refused(Code::Revoked));
    }
    if expires_at.is_some_and(|t| t <= now) {
        return Ok(VerifyAnswer::refused(Code::Expired));
    }
    let allowlist: String = row.try_get("ip_allowlist")?;
    if !allowlist.is_empty() && !ip_allowed(&allowlist, req.ip.as_deref()) {
        return Ok(VerifyAnswer::refused(Code::IpNotAllowed));
    }
    let subscription: Option<String> = row.try_get("subscription")?;
    let Some((sub_state, api_id)) = subscription.as_deref().and_then(|s| s.split_once(' ')) else {
        return Ok(VerifyAnswer::refused(Code::ApiNotAllowed));
    };
    let api_ids = words(&row, "api_ids")?;
    if !api_ids.is_empty() && !api_ids.iter().any(|id| id == api_id) {
        return Ok(VerifyAnswer::refused(Code::ApiNotAllowed));
    }
    let sub_state: SubscriptionState = sub_state.parse().map_err(AppError::internal)?;
    if sub_state != SubscriptionState::Active {
        return Ok(VerifyAnswer::refused(Code::SubscriptionInactive));
    }
    if let Some(scope) = req.scope.as_deref().filter(|s| !s.is_empty()) {
        if !scopes.iter().any(|s| s == scope) {
            return Ok(VerifyAnswer::refused(Code::ScopeDenied));
        }
    }
    // One atomic statement counts the use (when limited) and records it: of K parallel
    // verifications of a key with K uses left, exactly K get a row back.
    let used = sqlx::query(
        "UPDATE api_keys SET remaining_uses = remaining_uses - 1, use_count = use_count + 1, \
         last_used_at = $1, last_used_ip = $2 WHERE id = $3 AND (remaining_uses IS NULL OR remaining_uses > 0) RETURNING remaining_uses",
    )
    .bind(now)
    .bind(req.ip.as_deref())
    .bind(&key_id)
    .fetch_optional(&state.db)
    .await?;
    let Some(used) = used else {
        return Ok(VerifyAnswer::refused(Code::Exhausted));
    };
    Ok(VerifyAnswer {
        valid: true,
        code: Code::Valid,
        key_id: Some(key_id),
        application: Some(row.try_get("application")?),
        owner: row.try_get("owner")?,
        environment: Some(row.try_get("environment")?),
        scopes: Some(scopes),
        remaining: used.try_get("remaining_uses")?,
        expires_at: expires_at.map(fmt_time),
        rate_limit: row
            .try_get::<Option<i64>, _>("rate_limit")?
            .zip(row.try_get::<Option<String>, _>("rate_period")?)
            .map(|(requests, period)| KeyRate { requests, period }),
    })
}

/// Whether `ip` lies in one of the allowlist's CIDRs (a request without an IP is refused).
fn ip_allowed(allowlist: &str, ip: Option<&str>) -> bool {
    let Some(ip) = ip.and_then(|ip| ip.trim().parse::<std::net::IpAddr>().ok()) else {
        return false;
    };
    allowlist
        .split_whitespace()
        .filter_map(|c| c.parse::<ipnet::IpNet>().ok())
        .any(|net| net.contains(&ip))
}
