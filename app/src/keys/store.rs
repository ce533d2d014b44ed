//! The `api_keys` table: digests, never keys.

use crate::error::AppError;
use crate::sql::placeholders;
use crate::state::{new_id, Db};
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: String,
    pub application_id: String,
    pub name: String,
    pub environment: String,
    pub display_prefix: String,
    pub last4: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
    pub remaining_uses: Option<i64>,
    pub ip_allowlist: Vec<String>,
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
    pub created_by_email: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
}

const SELECT: &str = "SELECT k.id, k.application_id, k.name, k.environment, k.display_prefix, \
    k.last4, k.scopes, k.expires_at, k.max_uses, k.remaining_uses, k.ip_allowlist, k.revoked_at, k.revoke_reason, u.email AS created_by_email, \
    k.created_at, k.last_used_at, k.last_used_ip FROM api_keys k LEFT JOIN users u ON u.id = k.created_by";

impl KeyRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(KeyRow {
            id: r.try_get("id")?,
            application_id: r.try_get("application_id")?,
            name: r.try_get("name")?,
            environment: r.try_get("environment")?,
            display_prefix: r.try_get("display_prefix")?,
            last4: r.try_get("last4")?,
            scopes: r
                .try_get::<String, _>("scopes")?
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            expires_at: r.try_get("expires_at")?,
            max_uses: r.try_get("max_uses")?,
            remaining_uses: r.try_get("remaining_uses")?,
            ip_allowlist: r
                .try_get::<String, _>("ip_allowlist")?
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            revoked_at: r.try_get("revoked_at")?,
            revoke_reason: r.try_get("revoke_reason")?,
            created_by_email: r.try_get("created_by_email")?,
            created_at: r.try_get("created_at")?,
            last_used_at: r.try_get("last_used_at")?,
            last_used_ip: r.try_get("last_used_ip")?,
        })
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
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
    pub ip_allowlist: &'a [String],
    pub created_by: &'a str,
}

pub async fn insert(db: &Db, k: &NewKey<'_>, now: i64) -> Result<String, AppError> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO api_keys (id, application_id, name, environment, digest, display_prefix, last4, \
         scopes, expires_at, max_uses, remaining_uses, ip_allowlist, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13)",
    )
    .bind(&id)
    .bind(k.application_id)
    .bind(k.name)
    .bind(k.environment)
    .bind(k.digest)
    .bind(k.display_prefix)
    .bind(k.last4)
    .bind(k.scopes.join(" "))
    .bind(k.expires_at)
    .bind(k.max_uses)
    .bind(k.ip_allowlist.join(" "))
    .bind(k.created_by)
    .bind(now)
    .execute(db)
    .await?;
    Ok(id)
}

pub async fn find(db: &Db, id: &str) -> Result<Option<KeyRow>, AppError> {
    let sql = format!("{SELECT} WHERE k.id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db).await?;
    Ok(row.as_ref().map(KeyRow::from_row).transpose()?)
}

/// The keys of these applications, newest first (revoked ones too, for the record).
pub async fn of_applications(db: &Db, app_ids: &[String]) -> Result<Vec<KeyRow>, AppError> {
    if app_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "{SELECT} WHERE k.application_id IN ({}) ORDER BY k.created_at DESC, k.id LIMIT 5000",
        placeholders(app_ids.len())
    );
    let mut q = sqlx::query(&sql);
    for id in app_ids {
        q = q.bind(id);
    }
    Ok(q.fetch_all(db)
        .await?
        .iter()
        .map(KeyRow::from_row)
        .collect::<Result<_, sqlx::Error>>()?)
}

/// Revokes a key that is not revoked yet; `false` when it already was.
pub async fn revoke(db: &Db, id: &str, by: &str, reason: &str, now: i64) -> Result<bool, AppError> {
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
