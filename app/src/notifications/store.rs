//! The `notifications` table: a user's in-portal messages, newest first, with read marks.

use crate::error::AppError;
use crate::platform::state::{new_id, Db};

#[derive(sqlx::FromRow)]
pub struct NotificationRow {
    pub id: String,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

pub async fn insert(
    db: &Db,
    user_id: &str,
    title: &str,
    body: &str,
    link: Option<&str>,
    now: i64,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO notifications (id, user_id, title, body, link, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id())
    .bind(user_id)
    .bind(title)
    .bind(body)
    .bind(link)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn list(
    db: &Db,
    user_id: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<NotificationRow>, i64), AppError> {
    let list = sqlx::query_as(
        "SELECT id, title, body, link, created_at, read_at FROM notifications WHERE user_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
    )
    .bind(user_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(db)
        .await?;
    Ok((list, total))
}

pub async fn unread(db: &Db, user_id: &str) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(db)
    .await?)
}

/// Marks one notification (or all, with `id` None) of `user_id` read; returns how many.
pub async fn mark_read(
    db: &Db,
    user_id: &str,
    id: Option<&str>,
    now: i64,
) -> Result<u64, AppError> {
    let done = sqlx::query(
        "UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL AND ($3 = '' OR id = $3)",
    )
    .bind(now)
    .bind(user_id)
    .bind(id.unwrap_or(""))
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
