//! The `applications` table. Every query names the owner as (kind, id), so team-owned
//! applications only need a new `Owner` variant and a membership check.

use crate::error::AppError;
use crate::platform::state::{new_id, Db};
use sqlx::FromRow;
use sqlx::{Any, Executor};

/// Who owns an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    User(String),
}

impl Owner {
    pub fn kind(&self) -> &'static str {
        match self {
            Owner::User(_) => "user",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Owner::User(id) => id,
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner_kind: String,
    pub owner_id: String,
    pub created_at: i64,
}

const COLUMNS: &str = "id, name, description, owner_kind, owner_id, created_at";

pub async fn insert(
    db: &Db,
    owner: &Owner,
    name: &str,
    description: &str,
    created_by: &str,
    now: i64,
) -> Result<String, AppError> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO applications (id, owner_kind, owner_id, name, description, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(&id)
    .bind(owner.kind())
    .bind(owner.id())
    .bind(name)
    .bind(description)
    .bind(created_by)
    .bind(now)
    .execute(db)
    .await?;
    Ok(id)
}

pub async fn update(
    db: &Db,
    id: &str,
    owner: &Owner,
    name: &str,
    description: &str,
    now: i64,
) -> Result<bool, AppError> {
    let done = sqlx::query(
        "UPDATE applications SET name = $1, description = $2, updated_at = $3 \
         WHERE id = $4 AND owner_kind = $5 AND owner_id = $6 AND deleted_at IS NULL",
    )
    .bind(name)
    .bind(description)
    .bind(now)
    .bind(id)
    .bind(owner.kind())
    .bind(owner.id())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The application if `owner` owns it and it is not deleted.
pub async fn find_owned<'c>(
    db: impl Executor<'c, Database = Any>,
    id: &str,
    owner: &Owner,
) -> Result<Option<AppRow>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM applications WHERE id = $1 AND owner_kind = $2 AND owner_id = $3 AND deleted_at IS NULL"
    );
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(owner.kind())
        .bind(owner.id())
        .fetch_optional(db)
        .await?;
    Ok(row.as_ref().map(AppRow::from_row).transpose()?)
}

/// Any application, whoever owns it (for admins).
pub async fn find_any(db: &Db, id: &str) -> Result<Option<AppRow>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM applications WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db).await?;
    Ok(row.as_ref().map(AppRow::from_row).transpose()?)
}

/// The names of these applications (deleted or not), by id, in one query.
pub async fn names(
    db: &Db,
    ids: &[String],
) -> Result<std::collections::HashMap<String, String>, AppError> {
    let rows = crate::platform::sql::fetch_in(
        db,
        "SELECT id, name FROM applications WHERE id IN ({in})",
        ids,
        |r| sqlx::FromRow::from_row(r),
    )
    .await?;
    Ok(rows.into_iter().collect())
}

pub async fn list_owned(db: &Db, owner: &Owner) -> Result<Vec<AppRow>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM applications WHERE owner_kind = $1 AND owner_id = $2 AND deleted_at IS NULL \
         ORDER BY lower(name), id LIMIT 200"
    );
    let rows = sqlx::query(&sql)
        .bind(owner.kind())
        .bind(owner.id())
        .fetch_all(db)
        .await?;
    Ok(rows
        .iter()
        .map(AppRow::from_row)
        .collect::<Result<_, sqlx::Error>>()?)
}

/// Marks an application deleted (its subscriptions stay, cancelled, for the record).
pub async fn mark_deleted<'c>(
    db: impl Executor<'c, Database = Any>,
    id: &str,
    now: i64,
) -> Result<bool, AppError> {
    let done = sqlx::query(
        "UPDATE applications SET deleted_at = $1, updated_at = $1 WHERE id = $2 AND deleted_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
