//! The `users` table: plain SQL that runs unchanged on SQLite and PostgreSQL.

use crate::domain::{DisplayName, Email, Role, UserStatus};
use crate::error::AppError;
use crate::platform::sql::Where;
use crate::platform::state::{new_id, Db};
use sqlx::FromRow;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    #[sqlx(try_from = "String")]
    pub role: Role,
    #[sqlx(try_from = "String")]
    pub status: UserStatus,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
    /// The IANA zone their usage charts are cut in; `None`: the browser's.
    pub time_zone: Option<String>,
}

const COLUMNS: &str =
    "id, email, display_name, password_hash, role, status, created_at, last_sign_in_at, time_zone";

fn decode_err(e: String) -> sqlx::Error {
    sqlx::Error::Decode(e.into())
}

pub struct NewUser<'a> {
    pub email: &'a Email,
    pub display_name: &'a DisplayName,
    pub password_hash: Option<&'a str>,
    pub role: Role,
}

/// Creates an active user; a taken email is a field error on `email`.
pub async fn create(db: &Db, user: NewUser<'_>, now: i64) -> Result<UserRow, AppError> {
    let id = new_id();
    let result = sqlx::query(
        "INSERT INTO users (id, email, display_name, password_hash, role, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'active', $6, $6)",
    )
    .bind(&id)
    .bind(user.email.as_str())
    .bind(user.display_name.as_str())
    .bind(user.password_hash)
    .bind(user.role.as_str())
    .bind(now)
    .execute(db)
    .await;
    match result {
        Err(e) if crate::platform::sql::is_unique_violation(&e) => Err(AppError::field(
            "email",
            "An account with this email already exists.",
        )),
        Err(e) => Err(e.into()),
        Ok(_) => find_by_id(db, &id).await?.ok_or(AppError::NotFound),
    }
}

pub async fn find_by_id(db: &Db, id: &str) -> Result<Option<UserRow>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db).await?;
    Ok(row.as_ref().map(UserRow::from_row).transpose()?)
}

pub async fn find_by_email(db: &Db, email: &Email) -> Result<Option<UserRow>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE email = $1");
    let row = sqlx::query(&sql)
        .bind(email.as_str())
        .fetch_optional(db)
        .await?;
    Ok(row.as_ref().map(UserRow::from_row).transpose()?)
}

/// Sets (or, with `None`, clears) the zone `id`'s usage charts are cut in.
pub async fn set_time_zone(
    db: &Db,
    id: &str,
    zone: Option<&str>,
    now: i64,
) -> Result<(), AppError> {
    sqlx::query("UPDATE users SET time_zone = $1, updated_at = $2 WHERE id = $3")
        .bind(zone)
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn update_profile(
    db: &Db,
    id: &str,
    display_name: &DisplayName,
    email: &Email,
    now: i64,
) -> Result<(), AppError> {
    let result = sqlx::query(
        "UPDATE users SET display_name = $1, email = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(display_name.as_str())
    .bind(email.as_str())
    .bind(now)
    .bind(id)
    .execute(db)
    .await;
    match result {
        Err(e) if crate::platform::sql::is_unique_violation(&e) => Err(AppError::field(
            "email",
            "An account with this email already exists.",
        )),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}

pub async fn set_password_hash(db: &Db, id: &str, hash: &str, now: i64) -> Result<(), AppError> {
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_role(db: &Db, id: &str, role: Role, now: i64) -> Result<(), AppError> {
    sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_status(db: &Db, id: &str, status: UserStatus, now: i64) -> Result<(), AppError> {
    sqlx::query("UPDATE users SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn touch_sign_in(db: &Db, id: &str, now: i64) -> Result<(), AppError> {
    sqlx::query("UPDATE users SET last_sign_in_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Active admins: the last one can be neither demoted nor disabled.
pub async fn count_active_admins(db: &Db) -> Result<i64, AppError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND status = 'active'")
            .fetch_one(db)
            .await?,
    )
}

/// The ids of the active admins (who hear about requests for APIs without a publisher).
pub async fn active_admin_ids(db: &Db) -> Result<Vec<String>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM users WHERE role = 'admin' AND status = 'active' ORDER BY id LIMIT 50",
    )
    .fetch_all(db)
    .await?)
}

/// Users whose email or name contains `search` (case-insensitive), newest first.
pub async fn list(
    db: &Db,
    search: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<UserRow>, i64), AppError> {
    let search = search.trim();
    let mut w = Where::default();
    if !search.is_empty() {
        w.contains(&["email", "display_name"], search);
    }
    w.page(
        db,
        &format!("SELECT {COLUMNS} FROM users"),
        "ORDER BY created_at DESC, id",
        "FROM users",
        (limit, offset),
        |r| UserRow::from_row(r),
    )
    .await
}

/// Number of users per (role, status).
pub async fn counts(db: &Db) -> Result<Vec<(Role, UserStatus, i64)>, AppError> {
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT role, status, COUNT(*) FROM users GROUP BY role, status")
            .fetch_all(db)
            .await?;
    rows.into_iter()
        .map(|(role, status, n)| {
            Ok((
                role.parse().map_err(decode_err)?,
                status.parse().map_err(decode_err)?,
                n,
            ))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(AppError::from)
}
