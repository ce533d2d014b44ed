//! The `apis`, `api_tags` and `plans` tables.

use crate::catalog::PlanView;
use crate::domain::{
    Approval, Lifecycle, QuotaPeriod, RatePeriod, Role, UpstreamProtocol, Visibility,
};
use crate::error::AppError;
use crate::platform::sql::{fetch_in, Arg, Where};
use crate::platform::state::{new_id, Db};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, FromRow, Row};
use std::collections::HashMap;

fn parsed<T: std::str::FromStr<Err = String>>(r: &AnyRow, col: &str) -> Result<T, sqlx::Error> {
    r.try_get::<String, _>(col)?
        .parse()
        .map_err(|e: String| sqlx::Error::Decode(e.into()))
}

#[derive(Debug, Clone)]
pub struct ApiRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub version: String,
    pub summary: String,
    pub description: String,
    pub description_html: String,
    pub upstream_url: String,
    pub sandbox_url: Option<String>,
    pub key_param: Option<String>,
    pub upstream_protocol: UpstreamProtocol,
    pub gateway_host: Option<String>,
    pub openapi_source: Option<String>,
    pub openapi_ref: Option<String>,
    pub visibility: Visibility,
    pub visible_roles: Vec<Role>,
    pub lifecycle: Lifecycle,
    pub sunset_at: Option<i64>,
    pub owner_id: Option<String>,
    pub owner_email: Option<String>,
    pub updated_at: i64,
}

const API_COLUMNS: &str = "a.id, a.slug, a.name, a.version, a.summary, a.description, \
    a.description_html, a.upstream_url, a.sandbox_url, a.key_param, a.upstream_protocol, a.gateway_host, a.openapi_source, a.openapi_ref, a.visibility, \
    a.visible_roles, a.lifecycle, a.sunset_at, a.owner_id, u.email AS owner_email, a.updated_at";

impl FromRow<'_, AnyRow> for ApiRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(ApiRow {
            id: r.try_get("id")?,
            slug: r.try_get("slug")?,
            name: r.try_get("name")?,
            version: r.try_get("version")?,
            summary: r.try_get("summary")?,
            description: r.try_get("description")?,
            description_html: r.try_get("description_html")?,
            upstream_url: r.try_get("upstream_url")?,
            sandbox_url: r.try_get("sandbox_url")?,
            key_param: r.try_get("key_param")?,
            upstream_protocol: parsed(r, "upstream_protocol")?,
            gateway_host: r.try_get("gateway_host")?,
            openapi_source: r.try_get("openapi_source")?,
            openapi_ref: r.try_get("openapi_ref")?,
            visibility: parsed(r, "visibility")?,
            visible_roles: roles_from_column(&r.try_get::<String, _>("visible_roles")?),
            lifecycle: parsed(r, "lifecycle")?,
            sunset_at: r.try_get("sunset_at")?,
            owner_id: r.try_get("owner_id")?,
            owner_email: r.try_get("owner_email")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}

impl ApiRow {
    /// Whether a user of `role` sees it, visibility-wise (the lifecycle is checked apart).
    pub fn visible_to(&self, role: Role) -> bool {
        self.visibility == Visibility::Public || self.visible_roles.contains(&role)
    }
}

/// Roles are stored as `,admin,developer,` so one `LIKE '%,role,%'` matches exactly.
fn roles_column(roles: &[Role]) -> String {
    let mut s = String::from(",");
    for r in roles {
        s.push_str(r.as_str());
        s.push(',');
    }
    s
}

fn roles_from_column(s: &str) -> Vec<Role> {
    s.split(',').filter_map(|r| r.parse().ok()).collect()
}

/// What an API is made of, as entered by its publisher (already parsed).
pub struct ApiFields<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub version: &'a str,
    pub summary: &'a str,
    pub description: &'a str,
    pub description_html: &'a str,
    pub upstream_url: &'a str,
    pub sandbox_url: Option<&'a str>,
    pub key_param: Option<&'a str>,
    pub upstream_protocol: UpstreamProtocol,
    pub gateway_host: Option<&'a str>,
    pub visibility: Visibility,
    pub visible_roles: &'a [Role],
    pub tags: &'a [String],
}

/// Creates a draft owned by `owner_id` (no `id`) or saves an API's fields, with its tags.
/// Returns the API's id, or `Ok(None)` when the slug or the gateway host name is taken.
pub async fn save_api(
    db: &Db,
    id: Option<&str>,
    fields: &ApiFields<'_>,
    owner_id: &str,
    now: i64,
) -> Result<Option<String>, AppError> {
    let api_id = id.map(str::to_string).unwrap_or_else(new_id);
    let sql = if id.is_some() {
        "UPDATE apis SET slug = $2, name = $3, version = $4, summary = $5, description = $6, \
         description_html = $7, upstream_url = $8, visibility = $9, visible_roles = $10, \
         updated_at = $11, sandbox_url = $12, key_param = $13, upstream_protocol = $14, \
         gateway_host = $15 WHERE id = $1"
    } else {
        "INSERT INTO apis (id, slug, name, version, summary, description, description_html, \
         upstream_url, visibility, visible_roles, lifecycle, created_at, updated_at, \
         sandbox_url, key_param, upstream_protocol, gateway_host, owner_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'draft', $11, $11, $12, $13, $14, $15, $16)"
    };
    let mut tx = db.begin().await?;
    let mut query = sqlx::query(sql)
        .bind(&api_id)
        .bind(fields.slug)
        .bind(fields.name)
        .bind(fields.version)
        .bind(fields.summary)
        .bind(fields.description)
        .bind(fields.description_html)
        .bind(fields.upstream_url)
        .bind(fields.visibility.as_str())
        .bind(roles_column(fields.visible_roles))
        .bind(now)
        .bind(fields.sandbox_url)
        .bind(fields.key_param)
        .bind(fields.upstream_protocol.as_str())
        .bind(fields.gateway_host);
    if id.is_none() {
        query = query.bind(owner_id);
    }
    match query.execute(&mut *tx).await {
        Err(e) if crate::platform::sql::is_unique_violation(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
        Ok(done) if done.rows_affected() == 0 => return Err(AppError::NotFound),
        Ok(_) => {}
    }
    set_tags(&mut tx, &api_id, fields.tags).await?;
    tx.commit().await?;
    Ok(Some(api_id))
}

async fn set_tags(
    tx: &mut sqlx::Transaction<'_, Any>,
    api_id: &str,
    tags: &[String],
) -> Result<(), AppError> {
    sqlx::query("DELETE FROM api_tags WHERE api_id = $1")
        .bind(api_id)
        .execute(&mut **tx)
        .await?;
    for tag in tags {
        sqlx::query("INSERT INTO api_tags (api_id, tag) VALUES ($1, $2)")
            .bind(api_id)
            .bind(tag)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub async fn find<'c>(
    db: impl Executor<'c, Database = Any>,
    by: By<'_>,
) -> Result<Option<ApiRow>, AppError> {
    let (column, value) = match by {
        By::Id(v) => ("id", v),
        By::Slug(v) => ("slug", v),
    };
    let sql = format!(
        "SELECT {API_COLUMNS} FROM apis a LEFT JOIN users u ON u.id = a.owner_id WHERE a.{column} = $1"
    );
    Ok(sqlx::query_as(&sql).bind(value).fetch_optional(db).await?)
}

/// The id of the API answering at the gateway host name `host`.
pub async fn api_at_host(db: &Db, host: &str) -> Result<Option<String>, AppError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM apis WHERE gateway_host = $1")
            .bind(host)
            .fetch_optional(db)
            .await?,
    )
}

/// Deprecated APIs whose sunset date is past.
pub async fn past_sunset(db: &Db, now: i64) -> Result<Vec<String>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM apis WHERE lifecycle = 'deprecated' AND sunset_at <= $1 ORDER BY sunset_at LIMIT 100",
    )
    .bind(now)
    .fetch_all(db)
    .await?)
}

pub enum By<'a> {
    Id(&'a str),
    Slug(&'a str),
}

pub async fn tags_of(db: &Db, api_ids: &[String]) -> Result<Vec<(String, String)>, AppError> {
    fetch_in(
        db,
        "SELECT api_id, tag FROM api_tags WHERE api_id IN ({in}) ORDER BY tag",
        api_ids,
        |r| FromRow::from_row(r),
    )
    .await
}

/// The catalog as a user of `role` sees it: listed (published or deprecated) APIs visible
/// to the role, or every listed API for admins, filtered by text and tag, by name.
pub struct CatalogQuery<'a> {
    pub role: Role,
    pub text: &'a str,
    pub tag: &'a str,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct CatalogRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub version: String,
    pub summary: String,
    #[sqlx(try_from = "String")]
    pub lifecycle: Lifecycle,
    pub sunset_at: Option<i64>,
}

pub async fn catalog(db: &Db, q: &CatalogQuery<'_>) -> Result<(Vec<CatalogRow>, i64), AppError> {
    let mut w = Where::default();
    w.and("a.lifecycle IN ('published', 'deprecated')", []);
    if q.role != Role::Admin {
        w.and(
            "(a.visibility = 'public' OR a.visible_roles LIKE ?)",
            [Arg::Text(format!("%,{},%", q.role.as_str()))],
        );
    }
    let text = q.text.trim();
    if !text.is_empty() {
        w.contains(
            &[
                "a.name",
                "a.slug",
                "a.summary",
                "EXISTS (SELECT 1 FROM api_tags t WHERE t.api_id = a.id AND LOWER(t.tag) LIKE ? ESCAPE '\\')",
            ],
            text,
        );
    }
    if !q.tag.is_empty() {
        w.and(
            "EXISTS (SELECT 1 FROM api_tags t WHERE t.api_id = a.id AND t.tag = ?)",
            [Arg::Text(q.tag.to_lowercase())],
        );
    }
    w.page(
        db,
        "SELECT a.id, a.slug, a.name, a.version, a.summary, a.lifecycle, a.sunset_at FROM apis a",
        "ORDER BY lower(a.name), a.id",
        "FROM apis a",
        (q.limit, q.offset),
        |r| CatalogRow::from_row(r),
    )
    .await
}

/// The most used tags among listed APIs (for the catalog's tag filter).
/// Visible to `role` as in [`catalog`] (admins see every listed API).
pub async fn popular_tags(db: &Db, role: Role, limit: i64) -> Result<Vec<String>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT t.tag FROM api_tags t JOIN apis a ON a.id = t.api_id \
         WHERE a.lifecycle IN ('published', 'deprecated') \
         AND ($1 = 'admin' OR a.visibility = 'public' OR a.visible_roles LIKE $2) \
         GROUP BY t.tag ORDER BY COUNT(*) DESC, t.tag LIMIT $3",
    )
    .bind(role.as_str())
    .bind(format!("%,{},%", role.as_str()))
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// An API as its publisher's list shows it.
#[derive(Debug, Clone, FromRow)]
pub struct ManagedRow {
    #[sqlx(flatten)]
    pub api: ApiRow,
    #[sqlx(rename = "plan_count")]
    pub plans: i64,
    #[sqlx(rename = "pending_count")]
    pub pending: i64,
    #[sqlx(rename = "live_count")]
    pub live: i64,
}

/// The APIs `owner` manages (every API when `None`, for admins), newest first.
pub async fn managed(db: &Db, owner: Option<&str>) -> Result<Vec<ManagedRow>, AppError> {
    let sql = format!(
        "SELECT {API_COLUMNS}, \
         (SELECT COUNT(*) FROM plans p WHERE p.api_id = a.id) AS plan_count, \
         (SELECT COUNT(*) FROM subscriptions s WHERE s.api_id = a.id AND s.state = 'pending') AS pending_count, \
         (SELECT COUNT(*) FROM subscriptions s WHERE s.api_id = a.id AND s.state IN ('active', 'suspended')) AS live_count \
         FROM apis a LEFT JOIN users u ON u.id = a.owner_id \
         WHERE ($1 = '' OR a.owner_id = $1) ORDER BY a.updated_at DESC LIMIT 500"
    );
    Ok(sqlx::query_as(&sql)
        .bind(owner.unwrap_or(""))
        .fetch_all(db)
        .await?)
}

/// A stored document: its source, its reference and the routes the gateway reads (JSON).
pub struct Document<'a> {
    pub source: &'a str,
    pub reference: &'a str,
    pub routes: &'a str,
}

/// Stores a document, or removes it (`None`).
pub async fn set_openapi(
    db: &Db,
    id: &str,
    document: Option<Document<'_>>,
    now: i64,
) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE apis SET openapi_source = $1, openapi_ref = $2, routes = $5, updated_at = $3 \
         WHERE id = $4",
    )
    .bind(document.as_ref().map(|d| d.source))
    .bind(document.as_ref().map(|d| d.reference))
    .bind(now)
    .bind(id)
    .bind(document.as_ref().map(|d| d.routes))
    .execute(db)
    .await?;
    Ok(())
}

/// Replaces (or drops) the reference built from the stored document, rebuilt in a newer
/// shape, unless the API changed since `updated_at` (a new document may have arrived
/// meanwhile). The API's `updated_at` stays, as nothing its publisher wrote changed.
pub async fn set_openapi_reference(
    db: &Db,
    id: &str,
    reference: Option<(&str, &str)>,
    updated_at: i64,
) -> Result<(), AppError> {
    sqlx::query("UPDATE apis SET openapi_ref = $1, routes = $4 WHERE id = $2 AND updated_at = $3")
        .bind(reference.map(|(r, _)| r))
        .bind(id)
        .bind(updated_at)
        .bind(reference.map(|(_, routes)| routes))
        .execute(db)
        .await?;
    Ok(())
}

/// The APIs whose stored document has no routes yet (stored before Keyport derived them).
pub async fn without_routes(db: &Db) -> Result<Vec<String>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM apis WHERE openapi_source IS NOT NULL AND routes IS NULL",
    )
    .fetch_all(db)
    .await?)
}

/// Moves the lifecycle if it is still `from` (a concurrent change wins, the other gets `false`).
pub async fn set_lifecycle<'c>(
    db: impl Executor<'c, Database = Any>,
    id: &str,
    from: Lifecycle,
    to: Lifecycle,
    sunset_at: Option<i64>,
    now: i64,
) -> Result<bool, AppError> {
    let done = sqlx::query(
        "UPDATE apis SET lifecycle = $1, sunset_at = $2, updated_at = $3 WHERE id = $4 AND lifecycle = $5",
    )
    .bind(to.as_str())
    .bind(sunset_at)
    .bind(now)
    .bind(id)
    .bind(from.as_str())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes a draft with its plans (drafts have no subscriptions).
pub async fn delete_draft(db: &Db, id: &str) -> Result<bool, AppError> {
    let done = sqlx::query(
        "DELETE FROM apis WHERE id = $1 AND lifecycle = 'draft' \
         AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.api_id = apis.id)",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A plan and the API it belongs to.
#[derive(Debug, Clone)]
pub struct PlanRow {
    pub api_id: String,
    pub plan: PlanView,
}

impl std::ops::Deref for PlanRow {
    type Target = PlanView;
    fn deref(&self) -> &PlanView {
        &self.plan
    }
}

const PLAN_COLUMNS: &str = "id, api_id, name, description, rate_limit, rate_period, burst, quota, \
    quota_period, approval, scopes, max_key_lifetime_days";

impl FromRow<'_, AnyRow> for PlanRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(PlanRow {
            api_id: r.try_get("api_id")?,
            plan: PlanView {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                description: r.try_get("description")?,
                rate_limit: r.try_get("rate_limit")?,
                rate_period: parsed(r, "rate_period")?,
                burst: r.try_get("burst")?,
                quota: r.try_get("quota")?,
                quota_period: parsed(r, "quota_period")?,
                approval: parsed(r, "approval")?,
                scopes: r
                    .try_get::<String, _>("scopes")?
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
                max_key_lifetime_days: r.try_get("max_key_lifetime_days")?,
            },
        })
    }
}

/// A plan's settings as entered (already parsed).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanFields {
    pub name: String,
    pub description: String,
    pub rate_limit: Option<i64>,
    pub rate_period: RatePeriod,
    pub burst: i64,
    pub quota: Option<i64>,
    pub quota_period: QuotaPeriod,
    pub approval: Approval,
    pub scopes: Vec<String>,
    pub max_key_lifetime_days: Option<i64>,
}

pub async fn plans(db: &Db, api_id: &str) -> Result<Vec<PlanRow>, AppError> {
    let sql = format!("SELECT {PLAN_COLUMNS} FROM plans WHERE api_id = $1 ORDER BY created_at, id");
    Ok(sqlx::query_as(&sql).bind(api_id).fetch_all(db).await?)
}

pub async fn find_plan(db: &Db, id: &str) -> Result<Option<PlanRow>, AppError> {
    let sql = format!("SELECT {PLAN_COLUMNS} FROM plans WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(db).await?)
}

/// These plans, by id (one query).
pub async fn find_plans(db: &Db, ids: &[String]) -> Result<HashMap<String, PlanRow>, AppError> {
    let sql = format!("SELECT {PLAN_COLUMNS} FROM plans WHERE id IN ({{in}})");
    let plans = fetch_in(db, &sql, ids, |r| PlanRow::from_row(r)).await?;
    Ok(plans.into_iter().map(|p| (p.id.clone(), p)).collect())
}

/// Creates (`id` None) or updates a plan; `Ok(None)` when the name is taken in this API.
pub async fn save_plan(
    db: &Db,
    api_id: &str,
    id: Option<&str>,
    f: &PlanFields,
    now: i64,
) -> Result<Option<String>, AppError> {
    let plan_id = id.map(str::to_string).unwrap_or_else(new_id);
    let sql = if id.is_some() {
        "UPDATE plans SET name = $3, description = $4, rate_limit = $5, rate_period = $6, burst = $7, \
         quota = $8, quota_period = $9, approval = $10, scopes = $11, max_key_lifetime_days = $12, \
         updated_at = $13 WHERE id = $1 AND api_id = $2"
    } else {
        "INSERT INTO plans (id, api_id, name, description, rate_limit, rate_period, burst, quota, \
         quota_period, approval, scopes, max_key_lifetime_days, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)"
    };
    let done = sqlx::query(sql)
        .bind(&plan_id)
        .bind(api_id)
        .bind(&f.name)
        .bind(&f.description)
        .bind(f.rate_limit)
        .bind(f.rate_period.as_str())
        .bind(f.burst)
        .bind(f.quota)
        .bind(f.quota_period.as_str())
        .bind(f.approval.as_str())
        .bind(f.scopes.join(" "))
        .bind(f.max_key_lifetime_days)
        .bind(now)
        .execute(db)
        .await;
    match done {
        Err(e) if crate::platform::sql::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
        Ok(d) if d.rows_affected() == 0 => Err(AppError::NotFound),
        Ok(_) => Ok(Some(plan_id)),
    }
}

/// Deletes a plan nobody ever subscribed to; `false` otherwise.
pub async fn delete_plan(db: &Db, id: &str) -> Result<bool, AppError> {
    let done = sqlx::query(
        "DELETE FROM plans WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.plan_id = plans.id)",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The names of these APIs, by id.
pub async fn api_names(db: &Db, ids: &[String]) -> Result<HashMap<String, String>, AppError> {
    let names = fetch_in(
        db,
        "SELECT id, name FROM apis WHERE id IN ({in})",
        ids,
        |r| FromRow::from_row(r),
    )
    .await?;
    Ok(names.into_iter().collect())
}
