//! The `subscriptions` table. State changes are compare-and-set on the current state, so
//! two admins deciding at once cannot both win, and the partial unique index keeps one live
//! subscription per application and API.

use crate::domain::SubscriptionState;
use crate::error::AppError;
use crate::platform::sql::{fetch_in, Arg, Where};
use crate::platform::state::{new_id, Db};
use sqlx::{Any, Executor, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct SubRow {
    pub id: String,
    pub application_id: String,
    pub application_name: String,
    pub app_owner_kind: String,
    pub app_owner_id: String,
    pub api_id: String,
    pub api_slug: String,
    pub api_name: String,
    pub api_owner_id: Option<String>,
    pub plan_id: String,
    pub plan_name: String,
    #[sqlx(try_from = "String")]
    pub state: SubscriptionState,
    pub reason: Option<String>,
    pub requested_by_email: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const SELECT: &str = "SELECT s.id, s.application_id, ap.name AS application_name, \
    ap.owner_kind AS app_owner_kind, ap.owner_id AS app_owner_id, s.api_id, a.slug AS api_slug, \
    a.name AS api_name, a.owner_id AS api_owner_id, s.plan_id, p.name AS plan_name, s.state, \
    s.reason, u.email AS requested_by_email, s.created_at, s.updated_at \
    FROM subscriptions s JOIN applications ap ON ap.id = s.application_id \
    JOIN apis a ON a.id = s.api_id JOIN plans p ON p.id = s.plan_id \
    LEFT JOIN users u ON u.id = s.requested_by";

/// A new subscription; `Ok(None)` when the application already has a live one for the API.
pub async fn insert(
    db: &Db,
    application_id: &str,
    api_id: &str,
    plan_id: &str,
    state: SubscriptionState,
    requested_by: &str,
    now: i64,
) -> Result<Option<String>, AppError> {
    let id = new_id();
    let done = sqlx::query(
        "INSERT INTO subscriptions (id, application_id, api_id, plan_id, state, requested_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(&id)
    .bind(application_id)
    .bind(api_id)
    .bind(plan_id)
    .bind(state.as_str())
    .bind(requested_by)
    .bind(now)
    .execute(db)
    .await;
    match done {
        Err(e) if crate::platform::sql::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(Some(id)),
    }
}

pub async fn find(db: &Db, id: &str) -> Result<Option<SubRow>, AppError> {
    let sql = format!("{SELECT} WHERE s.id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(db).await?)
}

/// Every subscription of these applications, newest first.
pub async fn of_applications(db: &Db, app_ids: &[String]) -> Result<Vec<SubRow>, AppError> {
    let sql = format!(
        "{SELECT} WHERE s.application_id IN ({{in}}) ORDER BY s.updated_at DESC, s.id LIMIT 2000"
    );
    fetch_in(db, &sql, app_ids, |r| SubRow::from_row(r)).await
}

/// When the subscriptions to these APIs (every API when `None`) made since `from` were
/// requested, oldest first (at most 100,000).
pub async fn requested_since(
    db: &Db,
    api_ids: Option<&[String]>,
    from: i64,
) -> Result<Vec<i64>, AppError> {
    use sqlx::Row;
    let decode = |r: &sqlx::any::AnyRow| r.try_get::<i64, _>(0);
    match api_ids {
        Some(ids) => {
            let sql = format!(
                "SELECT created_at FROM subscriptions WHERE created_at >= {from} \
                 AND api_id IN ({{in}}) ORDER BY created_at LIMIT 100000"
            );
            fetch_in(db, &sql, ids, decode).await
        }
        None => {
            let rows = sqlx::query(
                "SELECT created_at FROM subscriptions WHERE created_at >= $1 \
                 ORDER BY created_at LIMIT 100000",
            )
            .bind(from)
            .fetch_all(db)
            .await?;
            Ok(rows.iter().map(decode).collect::<Result<_, _>>()?)
        }
    }
}

/// Live subscriptions of one API or one application (to end or cancel them together).
pub async fn live_of<'c>(
    db: impl Executor<'c, Database = Any>,
    column: Live,
    id: &str,
) -> Result<Vec<SubRow>, AppError> {
    let column = match column {
        Live::Api => "s.api_id",
        Live::Application => "s.application_id",
    };
    let sql = format!(
        "{SELECT} WHERE {column} = $1 AND s.state IN ('pending', 'active', 'suspended') ORDER BY s.id"
    );
    Ok(sqlx::query_as(&sql).bind(id).fetch_all(db).await?)
}

pub enum Live {
    Api,
    Application,
}

/// Moves a subscription from `from` to `to`; `false` if it was no longer in `from`.
pub async fn transition<'c>(
    db: impl Executor<'c, Database = Any>,
    id: &str,
    from: SubscriptionState,
    to: SubscriptionState,
    reason: Option<&str>,
    decided_by: Option<&str>,
    now: i64,
) -> Result<bool, AppError> {
    // A suspension is remembered until the publisher lifts it (not when the owner cancels).
    let done = sqlx::query(
        "UPDATE subscriptions SET state = $1, reason = $2, decided_by = COALESCE($3, decided_by), updated_at = $4, \
         suspended_at = CASE WHEN $1 = 'suspended' THEN $4 WHEN state = 'suspended' AND $1 = 'active' THEN NULL ELSE suspended_at END \
         WHERE id = $5 AND state = $6",
    )
    .bind(to.as_str())
    .bind(reason)
    .bind(decided_by)
    .bind(now)
    .bind(id)
    .bind(from.as_str())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many live (pending, active or suspended) subscriptions `api_id` has.
pub async fn live_count(db: &Db, api_id: &str) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM subscriptions WHERE api_id = $1 AND state IN ('pending', 'active', 'suspended')",
    )
    .bind(api_id)
    .fetch_one(db)
    .await?)
}

/// Whether any application of `owner_id` had a subscription to `api_id` rejected, or
/// suspended without the suspension being lifted.
pub async fn was_refused(db: &Db, owner_id: &str, api_id: &str) -> Result<bool, AppError> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM subscriptions s JOIN applications a ON a.id = s.application_id \
         WHERE a.owner_id = $1 AND s.api_id = $2 \
         AND (s.state = 'rejected' OR s.suspended_at IS NOT NULL) LIMIT 1",
    )
    .bind(owner_id)
    .bind(api_id)
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

/// What the approval queue shows.
pub struct QueueFilter<'a> {
    /// Only subscriptions to APIs this user owns (publishers); every API when `None`.
    pub api_owner: Option<&'a str>,
    pub state: Option<SubscriptionState>,
    pub api_slug: Option<&'a str>,
    pub limit: i64,
    pub offset: i64,
}

pub async fn queue(db: &Db, f: &QueueFilter<'_>) -> Result<(Vec<SubRow>, i64), AppError> {
    let mut w = Where::default();
    if let Some(owner) = f.api_owner {
        w.and("a.owner_id = ?", [Arg::Text(owner.to_string())]);
    }
    if let Some(state) = f.state {
        w.and("s.state = ?", [Arg::Text(state.as_str().to_string())]);
    }
    if let Some(slug) = f.api_slug {
        w.and("a.slug = ?", [Arg::Text(slug.to_string())]);
    }
    w.page(
        db,
        SELECT,
        "ORDER BY s.created_at, s.id",
        "FROM subscriptions s JOIN apis a ON a.id = s.api_id",
        (f.limit, f.offset),
        |r| SubRow::from_row(r),
    )
    .await
}

/// Pending requests for APIs `api_owner` owns (all APIs when `None`).
pub async fn pending_count(db: &Db, api_owner: Option<&str>) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM subscriptions s JOIN apis a ON a.id = s.api_id \
         WHERE s.state = 'pending' AND ($1 = '' OR a.owner_id = $1)",
    )
    .bind(api_owner.unwrap_or(""))
    .fetch_one(db)
    .await?)
}

/// (slug, name) of the APIs `owner` publishes (every API when `None`), newest first: the
/// approval queue's filter.
pub async fn decided_apis(db: &Db, owner: Option<&str>) -> Result<Vec<(String, String)>, AppError> {
    Ok(sqlx::query_as(
        "SELECT slug, name FROM apis WHERE ($1 = '' OR owner_id = $1) ORDER BY updated_at DESC LIMIT 500",
    )
    .bind(owner.unwrap_or(""))
    .fetch_all(db)
    .await?)
}
