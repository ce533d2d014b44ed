//! The `api_keys` table: digests, never keys. Rotation links keys both ways (`replaces`,
//! `replaced_by`); a rotated key's expiry is shortened to the end of its grace period.

use super::KeySettings;
use crate::domain::{QuotaPeriod, RatePeriod};
use crate::error::AppError;
use crate::platform::sql::{fetch_in, Arg, Where};
use crate::platform::state::Db;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, FromRow, Row};

#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: String,
    pub application_id: String,
    pub application_name: String,
    pub owner_id: String,
    pub owner_email: Option<String>,
    pub name: String,
    pub environment: String,
    pub display_prefix: String,
    pub last4: String,
    pub scopes: Vec<String>,
    pub api_ids: Vec<String>,
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
    pub remaining_uses: Option<i64>,
    pub refill_period: Option<QuotaPeriod>,
    pub rate_limit: Option<(i64, RatePeriod)>,
    pub ip_allowlist: Vec<String>,
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
    pub created_by_email: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub replaces: Option<String>,
    pub replaced_by: Option<String>,
    /// The predecessor's and successor's prefix…last4.
    pub predecessor: Option<String>,
    pub successor: Option<String>,
    pub rotated_at: Option<i64>,
    /// Valid uses since the rotation (every instance's), counted by the usage writer.
    pub uses_since_rotation: i64,
    pub flagged_at: Option<i64>,
    pub flag_reason: Option<String>,
}

const SELECT: &str = "SELECT k.id, k.application_id, ap.name AS application_name, ap.owner_id, \
    o.email AS owner_email, k.name, k.environment, k.display_prefix, k.last4, k.scopes, k.api_ids, \
    k.expires_at, k.max_uses, k.remaining_uses, k.refill_period, k.rate_limit, k.rate_period, \
    k.ip_allowlist, k.revoked_at, k.revoke_reason, u.email AS created_by_email, k.created_at, \
    k.last_used_at, k.last_used_ip, k.replaces, k.replaced_by, k.rotated_at, \
    k.flagged_at, k.flag_reason, \
    k.uses_since_rotation, \
    pk.display_prefix || '…' || pk.last4 AS predecessor, nk.display_prefix || '…' || nk.last4 AS successor \
    FROM api_keys k JOIN applications ap ON ap.id = k.application_id \
    LEFT JOIN api_keys pk ON pk.id = k.replaces LEFT JOIN api_keys nk ON nk.id = k.replaced_by \
    LEFT JOIN users o ON ap.owner_kind = 'user' AND o.id = ap.owner_id \
    LEFT JOIN users u ON u.id = k.created_by";

/// Spends one use of a key with a maximum number of uses: the uses left after it, or
/// `None` when none was left. One atomic statement: of K parallel calls on a key with K uses
/// left, exactly K succeed, on every instance.
pub async fn spend_use(db: &Db, id: &str) -> Result<Option<i64>, AppError> {
    Ok(sqlx::query_scalar(
        "UPDATE api_keys SET remaining_uses = remaining_uses - 1 WHERE id = $1 AND remaining_uses > 0 RETURNING remaining_uses",
    )
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// What each of `subscription_ids` used of its quota in the periods that began at or after
/// `since`: (subscription, period, period start, used), one query.
pub async fn quota_used(
    db: &Db,
    subscription_ids: &[String],
    since: i64,
) -> Result<Vec<(String, String, i64, i64)>, AppError> {
    let sql = format!(
        "SELECT subscription_id, period, period_start, used FROM quota_usage \
         WHERE period_start >= {since} AND subscription_id IN ({{in}})"
    );
    crate::platform::sql::fetch_in(db, &sql, subscription_ids, |r| {
        use sqlx::Row;
        Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
    })
    .await
}

/// A space-separated column as its words.
pub(super) fn words(r: &AnyRow, column: &str) -> Result<Vec<String>, sqlx::Error> {
    Ok(r.try_get::<String, _>(column)?
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

fn parsed<T: std::str::FromStr>(r: &AnyRow, column: &str) -> Result<Option<T>, sqlx::Error> {
    Ok(r.try_get::<Option<String>, _>(column)?
        .and_then(|s| s.parse().ok()))
}

impl FromRow<'_, AnyRow> for KeyRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        let rate_limit: Option<i64> = r.try_get("rate_limit")?;
        let rate_period: Option<RatePeriod> = parsed(r, "rate_period")?;
        Ok(KeyRow {
            id: r.try_get("id")?,
            application_id: r.try_get("application_id")?,
            application_name: r.try_get("application_name")?,
            owner_id: r.try_get("owner_id")?,
            owner_email: r.try_get("owner_email")?,
            name: r.try_get("name")?,
            environment: r.try_get("environment")?,
            display_prefix: r.try_get("display_prefix")?,
            last4: r.try_get("last4")?,
            scopes: words(r, "scopes")?,
            api_ids: words(r, "api_ids")?,
            expires_at: r.try_get("expires_at")?,
            max_uses: r.try_get("max_uses")?,
            remaining_uses: r.try_get("remaining_uses")?,
            refill_period: parsed(r, "refill_period")?,
            rate_limit: rate_limit.zip(rate_period),
            ip_allowlist: words(r, "ip_allowlist")?,
            revoked_at: r.try_get("revoked_at")?,
            revoke_reason: r.try_get("revoke_reason")?,
            created_by_email: r.try_get("created_by_email")?,
            created_at: r.try_get("created_at")?,
            last_used_at: r.try_get("last_used_at")?,
            last_used_ip: r.try_get("last_used_ip")?,
            replaces: r.try_get("replaces")?,
            replaced_by: r.try_get("replaced_by")?,
            predecessor: r.try_get("predecessor")?,
            successor: r.try_get("successor")?,
            rotated_at: r.try_get("rotated_at")?,
            uses_since_rotation: r.try_get("uses_since_rotation")?,
            flagged_at: r.try_get("flagged_at")?,
            flag_reason: r.try_get("flag_reason")?,
        })
    }
}

impl KeyRow {
    /// `kp_live_AbCd…wxyz`, how people recognise a key.
    pub fn masked(&self) -> String {
        format!("{}…{}", self.display_prefix, self.last4)
    }
}

/// A key to store: its digest and display parts, never its text.
pub struct NewKey<'a> {
    pub application_id: &'a str,
    pub name: &'a str,
    pub environment: &'a str,
    pub digest: &'a str,
    pub display_prefix: &'a str,
    pub last4: &'a str,
    pub scopes: &'a [String],
    pub api_ids: &'a [String],
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
    pub refill_period: Option<QuotaPeriod>,
    pub rate_limit: Option<(i64, RatePeriod)>,
    pub ip_allowlist: &'a [String],
    pub created_by: &'a str,
    /// The key this one rotates.
    pub replaces: Option<&'a str>,
}

pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    id: &str,
    k: &NewKey<'_>,
    now: i64,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO api_keys (id, application_id, name, environment, digest, display_prefix, last4, \
         scopes, api_ids, expires_at, max_uses, remaining_uses, refill_period, refilled_at, rate_limit, \
         rate_period, ip_allowlist, created_by, created_at, replaces) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14, $15, $16, $17, $13, $18)",
    )
    .bind(id)
    .bind(k.application_id)
    .bind(k.name)
    .bind(k.environment)
    .bind(k.digest)
    .bind(k.display_prefix)
    .bind(k.last4)
    .bind(k.scopes.join(" "))
    .bind(k.api_ids.join(" "))
    .bind(k.expires_at)
    .bind(k.max_uses)
    .bind(k.refill_period.map(|p| p.as_str()))
    .bind(now)
    .bind(k.rate_limit.map(|(n, _)| n))
    .bind(k.rate_limit.map(|(_, p)| p.as_str()))
    .bind(k.ip_allowlist.join(" "))
    .bind(k.created_by)
    .bind(k.replaces)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn find(db: &Db, id: &str) -> Result<Option<KeyRow>, AppError> {
    let sql = format!("{SELECT} WHERE k.id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(db).await?)
}

/// These keys (those that exist), in one query.
pub async fn find_many(db: &Db, ids: &[String]) -> Result<Vec<KeyRow>, AppError> {
    let sql = format!("{SELECT} WHERE k.id IN ({{in}})");
    crate::platform::sql::fetch_in(db, &sql, ids, |r| KeyRow::from_row(r)).await
}

pub async fn find_by_digest(db: &Db, digest: &str) -> Result<Option<KeyRow>, AppError> {
    let sql = format!("{SELECT} WHERE k.digest = $1");
    Ok(sqlx::query_as(&sql).bind(digest).fetch_optional(db).await?)
}

/// The keys of these applications, newest first (revoked ones too, for the record).
pub async fn of_applications(db: &Db, app_ids: &[String]) -> Result<Vec<KeyRow>, AppError> {
    let sql = format!(
        "{SELECT} WHERE k.application_id IN ({{in}}) ORDER BY k.created_at DESC, k.id LIMIT 5000"
    );
    fetch_in(db, &sql, app_ids, |r| KeyRow::from_row(r)).await
}

/// Filters of the admin's list of every key.
#[derive(Debug, Default)]
pub struct KeyFilter<'a> {
    /// Matches the key's name, its prefix…last4, the application or the owner's email.
    pub search: Option<&'a str>,
    /// `live` (neither revoked nor expired), `revoked` or `flagged`.
    pub state: Option<&'a str>,
    pub application_id: Option<&'a str>,
}

pub async fn list_all(
    db: &Db,
    f: &KeyFilter<'_>,
    now: i64,
    page: (i64, i64),
) -> Result<(Vec<KeyRow>, i64), AppError> {
    let mut w = Where::default();
    if let Some(s) = f.search.filter(|s| !s.trim().is_empty()) {
        w.contains(
            &[
                "k.name",
                "k.display_prefix || k.last4",
                "ap.name",
                "o.email",
            ],
            s.trim(),
        );
    }
    match f.state {
        Some("live") => {
            w.and(
                "k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?)",
                [Arg::Int(now)],
            );
        }
        Some("revoked") => {
            w.and("k.revoked_at IS NOT NULL", []);
        }
        Some("flagged") => {
            w.and("k.flagged_at IS NOT NULL", []);
        }
        _ => {}
    }
    if let Some(app) = f.application_id {
        w.and("k.application_id = ?", [Arg::Text(app.into())]);
    }
    let from = &SELECT[SELECT.find("FROM api_keys k ").unwrap_or(0)..];
    w.page(
        db,
        SELECT,
        "ORDER BY k.created_at DESC, k.id",
        from,
        page,
        |r| KeyRow::from_row(r),
    )
    .await
}

/// Revokes a key that is not revoked yet; `false` when it already was.
pub async fn revoke(
    db: &Db,
    id: &str,
    by: Option<&str>,
    reason: &str,
    now: i64,
) -> Result<bool, AppError> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1, revoked_by = $2, revoke_reason = $3 \
         WHERE id = $4 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(by)
    .bind(reason)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every key of an application still in force; the masked keys revoked.
pub async fn revoke_all(
    db: &Db,
    app_id: &str,
    by: Option<&str>,
    reason: &str,
    now: i64,
) -> Result<Vec<String>, AppError> {
    Ok(sqlx::query_scalar(
        "UPDATE api_keys SET revoked_at = $1, revoked_by = $2, revoke_reason = $3 \
         WHERE application_id = $4 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1) \
         RETURNING display_prefix || '…' || last4",
    )
    .bind(now)
    .bind(by)
    .bind(reason)
    .bind(app_id)
    .fetch_all(db)
    .await?)
}

/// Marks `old` as replaced by `new` (compare-and-set: only a key in force and not rotated
/// yet); it keeps working until `grace_until` or its own expiry, whichever is first.
pub async fn mark_rotated<'c>(
    db: impl Executor<'c, Database = Any>,
    old: &str,
    new: &str,
    grace_until: i64,
    now: i64,
) -> Result<bool, AppError> {
    let done = sqlx::query(
        "UPDATE api_keys SET replaced_by = $1, rotated_at = $2, \
         expires_at = CASE WHEN expires_at IS NULL OR expires_at > $3 THEN $3 ELSE expires_at END \
         WHERE id = $4 AND replaced_by IS NULL AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(new)
    .bind(now)
    .bind(grace_until)
    .bind(old)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Flags a key a leak report matched (when leaks are flagged rather than revoked).
pub async fn flag(db: &Db, id: &str, reason: &str, now: i64) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE api_keys SET flagged_at = $1, flag_reason = $2 WHERE id = $3 AND flagged_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// The portal's key policy, stored as one JSON value in `settings` (defaults until saved).
const POLICY: &str = "key_policy";

pub async fn policy(db: &Db) -> Result<KeySettings, AppError> {
    Ok(crate::platform::settings::get(db, POLICY)
        .await?
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default())
}

pub async fn save_policy(db: &Db, s: &KeySettings, by: &str, now: i64) -> Result<(), AppError> {
    let value = serde_json::to_string(s).map_err(AppError::internal)?;
    crate::platform::settings::put(db, POLICY, &value, Some(by), now).await
}

/// Refills the use counters of keys refilled per `period` not yet refilled since `since`.
pub async fn refill_uses(
    db: &Db,
    period: QuotaPeriod,
    since: i64,
    now: i64,
) -> Result<u64, AppError> {
    Ok(sqlx::query(
        "UPDATE api_keys SET remaining_uses = max_uses, refilled_at = $1 \
         WHERE refill_period = $2 AND refilled_at < $3 AND max_uses IS NOT NULL AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(period.as_str())
    .bind(since)
    .execute(db)
    .await?
    .rows_affected())
}

/// Caps every key in force at `lifetime` after its creation, and at `earliest` for keys
/// already older: how many keys it shortened.
pub async fn cap_lifetime(db: &Db, lifetime: i64, earliest: i64) -> Result<u64, AppError> {
    let cap = "CASE WHEN created_at + $1 > $2 THEN created_at + $1 ELSE $2 END";
    Ok(sqlx::query(&format!(
        "UPDATE api_keys SET expires_at = {cap} WHERE revoked_at IS NULL AND replaced_by IS NULL \
         AND (expires_at IS NULL OR expires_at > {cap})"
    ))
    .bind(lifetime)
    .bind(earliest)
    .execute(db)
    .await?
    .rows_affected())
}

/// A key due for an expiry reminder.
#[derive(sqlx::FromRow)]
pub struct Due {
    pub id: String,
    pub name: String,
    pub masked: String,
    pub expires_at: i64,
    pub application: String,
    pub owner_id: String,
}

/// Keys meant to live longer than `lead`, expiring within it, not yet reminded.
pub async fn due_reminders(db: &Db, now: i64, lead: i64) -> Result<Vec<Due>, AppError> {
    Ok(sqlx::query_as(
        "SELECT k.id, k.name, k.display_prefix || '…' || k.last4 AS masked, k.expires_at, \
         ap.name AS application, ap.owner_id \
         FROM api_keys k JOIN applications ap ON ap.id = k.application_id \
         WHERE k.revoked_at IS NULL AND k.replaced_by IS NULL AND k.expiry_reminded_at IS NULL \
         AND k.expires_at > $1 AND k.expires_at <= $2 AND k.expires_at - k.created_at > $3 \
         AND ap.deleted_at IS NULL ORDER BY k.expires_at LIMIT 1000",
    )
    .bind(now)
    .bind(now + lead)
    .bind(lead)
    .fetch_all(db)
    .await?)
}

/// Marks a reminder sent; false when another instance sent it first.
pub async fn claim_reminder(db: &Db, id: &str, now: i64) -> Result<bool, AppError> {
    let claimed = sqlx::query(
        "UPDATE api_keys SET expiry_reminded_at = $1 WHERE id = $2 AND expiry_reminded_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(db)
    .await?
    .rows_affected();
    Ok(claimed == 1)
}
