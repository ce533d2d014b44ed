//! SQL for what administration keeps: service tokens (only their digests).

use super::{ServiceTokenView, TOKEN_PREFIX};
use crate::error::AppError;
use crate::platform::state::{fmt_time, new_id, new_token, token_digest, Db};
use sqlx::Row;

/// Creates a token; returns (id, token). The token is not kept.
pub async fn create_service_token(
    db: &Db,
    name: &str,
    created_by: Option<&str>,
    now: i64,
) -> Result<(String, String), AppError> {
    let (raw, _) = new_token(32);
    let token = format!("{TOKEN_PREFIX}{raw}");
    let id = new_id();
    sqlx::query(
        "INSERT INTO service_tokens (id, name, token_digest, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(name)
    .bind(token_digest(&token))
    .bind(created_by)
    .bind(now)
    .execute(db)
    .await?;
    Ok((id, token))
}

#[derive(sqlx::FromRow)]
pub struct ServiceTokenRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Who created it (none for the command line, or a deleted user).
    pub email: Option<String>,
}

impl From<ServiceTokenRow> for ServiceTokenView {
    fn from(r: ServiceTokenRow) -> Self {
        ServiceTokenView {
            id: r.id,
            name: r.name,
            created: fmt_time(r.created_at),
            created_by: r.email,
            last_used: r.last_used_at.map(fmt_time),
            revoked: r.revoked_at.is_some(),
        }
    }
}

pub async fn list_service_tokens(db: &Db) -> Result<Vec<ServiceTokenRow>, AppError> {
    Ok(sqlx::query_as(
        "SELECT t.id, t.name, t.created_at, t.last_used_at, t.revoked_at, u.email FROM service_tokens t \
         LEFT JOIN users u ON u.id = t.created_by ORDER BY t.revoked_at IS NOT NULL, t.created_at DESC LIMIT 200",
    )
    .fetch_all(db)
    .await?)
}

pub async fn revoke_service_token(db: &Db, id: &str, now: i64) -> Result<Option<String>, AppError> {
    let row = sqlx::query("UPDATE service_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING name")
        .bind(now)
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| r.try_get("name")).transpose()?)
}

pub async fn service_token_used(db: &Db, id: &str, now: i64) -> Result<(), AppError> {
    sqlx::query("UPDATE service_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
