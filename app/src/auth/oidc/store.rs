//! The `identities` table: which (issuer, subject) pairs sign in as which user.

use crate::error::AppError;
use crate::platform::state::{new_id, Db};
use sqlx::FromRow;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdentityRow {
    pub id: String,
    pub user_id: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, issuer, subject, email, created_at, last_used_at";

pub async fn find(db: &Db, issuer: &str, subject: &str) -> Result<Option<IdentityRow>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM identities WHERE issuer = $1 AND subject = $2");
    let row = sqlx::query(&sql)
        .bind(issuer)
        .bind(subject)
        .fetch_optional(db)
        .await?;
    Ok(row.as_ref().map(IdentityRow::from_row).transpose()?)
}

/// One identity of one user: `None` for someone else's (the same answer as a missing one).
pub async fn find_for_user(
    db: &Db,
    id: &str,
    user_id: &str,
) -> Result<Option<IdentityRow>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM identities WHERE id = $1 AND user_id = $2");
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(user_id)
        .fetch_optional(db)
        .await?;
    Ok(row.as_ref().map(IdentityRow::from_row).transpose()?)
}

pub async fn list_for_user(db: &Db, user_id: &str) -> Result<Vec<IdentityRow>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM identities WHERE user_id = $1 ORDER BY created_at, id LIMIT 100"
    );
    let rows = sqlx::query(&sql).bind(user_id).fetch_all(db).await?;
    Ok(rows
        .iter()
        .map(IdentityRow::from_row)
        .collect::<Result<Vec<_>, _>>()?)
}

/// Links (issuer, subject) to a user; `Ok(None)` when the pair is already linked (to anyone).
pub async fn insert(
    db: &Db,
    user_id: &str,
    issuer: &str,
    subject: &str,
    email: Option<&str>,
    now: i64,
) -> Result<Option<String>, AppError> {
    let id = new_id();
    let result = sqlx::query(
        "INSERT INTO identities (id, user_id, issuer, subject, email, created_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(issuer)
    .bind(subject)
    .bind(email)
    .bind(now)
    .execute(db)
    .await;
    match result {
        Ok(_) => Ok(Some(id)),
        Err(e) if crate::platform::sql::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Records a sign-in with the identity, and the email the provider now reports.
pub async fn touch(db: &Db, id: &str, email: Option<&str>, now: i64) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE identities SET last_used_at = $1, email = COALESCE($2, email) WHERE id = $3",
    )
    .bind(now)
    .bind(email)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes one of a user's identities unless it is their last way in (no password and no
/// other identity). The check is part of the statement, so nothing can change between
/// reading and deleting within one request. Returns whether a row was deleted.
pub async fn delete_unless_last(db: &Db, id: &str, user_id: &str) -> Result<bool, AppError> {
    let done = sqlx::query(
        "DELETE FROM identities WHERE id = $1 AND user_id = $2 AND ( \
           EXISTS (SELECT 1 FROM users WHERE id = $2 AND password_hash IS NOT NULL) \
           OR (SELECT COUNT(*) FROM identities WHERE user_id = $2) > 1)",
    )
    .bind(id)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
