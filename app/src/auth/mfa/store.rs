//! The `mfa_totp` and `mfa_recovery_codes` tables.

use crate::error::AppError;
use crate::platform::state::{new_id, Db};

#[derive(sqlx::FromRow)]
pub struct TotpRow {
    pub secret_enc: String,
    pub enabled_at: Option<i64>,
}

pub async fn get(db: &Db, user_id: &str) -> Result<Option<TotpRow>, AppError> {
    Ok(
        sqlx::query_as("SELECT secret_enc, enabled_at FROM mfa_totp WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(db)
            .await?,
    )
}

pub async fn is_enabled(db: &Db, user_id: &str) -> Result<bool, AppError> {
    Ok(get(db, user_id)
        .await?
        .is_some_and(|r| r.enabled_at.is_some()))
}

/// Stores a new secret awaiting its first code; never replaces an enabled one.
pub async fn put_pending(
    db: &Db,
    user_id: &str,
    secret_enc: &str,
    now: i64,
) -> Result<bool, AppError> {
    let done = sqlx::query(
        "INSERT INTO mfa_totp (user_id, secret_enc, enabled_at, last_step, created_at) VALUES ($1, $2, NULL, 0, $3) \
         ON CONFLICT (user_id) DO UPDATE SET secret_enc = excluded.secret_enc, last_step = 0, \
         created_at = excluded.created_at WHERE mfa_totp.enabled_at IS NULL",
    )
    .bind(user_id)
    .bind(secret_enc)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn enable(db: &Db, user_id: &str, now: i64) -> Result<(), AppError> {
    sqlx::query("UPDATE mfa_totp SET enabled_at = $1 WHERE user_id = $2")
        .bind(now)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Records `step` as used; false when it (or a later step) was used already — the replay
/// check of RFC 6238 §5.2, atomic on both backends.
pub async fn claim_step(db: &Db, user_id: &str, step: i64) -> Result<bool, AppError> {
    let done =
        sqlx::query("UPDATE mfa_totp SET last_step = $1 WHERE user_id = $2 AND last_step < $1")
            .bind(step)
            .bind(user_id)
            .execute(db)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete(db: &Db, user_id: &str) -> Result<(), AppError> {
    sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn replace_recovery_codes(
    db: &Db,
    user_id: &str,
    digests: &[String],
    now: i64,
) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    for digest in digests {
        sqlx::query("INSERT INTO mfa_recovery_codes (id, user_id, code_digest, created_at) VALUES ($1, $2, $3, $4)")
            .bind(new_id())
            .bind(user_id)
            .bind(digest)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Marks a recovery code used; false when it does not exist or was used before.
pub async fn use_recovery_code(
    db: &Db,
    user_id: &str,
    digest: &str,
    now: i64,
) -> Result<bool, AppError> {
    let done = sqlx::query(
        "UPDATE mfa_recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_digest = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(digest)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn recovery_codes_left(db: &Db, user_id: &str) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(db)
    .await?)
}
