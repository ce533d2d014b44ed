//! Usage exports. CSV of each table of the usage pages, built by the same services as the
//! pages (so the same who-may-see-what): `/usage/export.csv` (a developer's),
//! `/publish/usage/export.csv` (a publisher's APIs) and `/admin/usage/export.csv` (the
//! platform). The billing export, per subscription and UTC day, streamed from the
//! database as it is read: `/usage/billing.csv` for publishers (their APIs) and admins, and
//! `GET /v1/usage` (JSON, for service tokens, in the OpenAPI document).

use crate::verify::{bearer, gateway, no_service_token};
use app::auth::guard::{enrolled, in_role, signed_in};
use app::auth::CurrentUser;
use app::domain::Role;
use app::error::AppError;
use app::platform::session::AuthSession;
use app::platform::state::{AppState, ClientInfo};
use app::usage::service::{self, Wanted};
use app::usage::store::{stream_daily, DailyUse};
use app::usage::{csv, UsageRange};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

/// The portal's export routes (they need the session).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/usage/export.csv", get(developer_csv))
        .route("/publish/usage/export.csv", get(publisher_csv))
        .route("/admin/usage/export.csv", get(admin_csv))
        .route("/usage/billing.csv", get(billing_csv))
}

#[derive(Debug, Default, Deserialize)]
struct TableQuery {
    range: Option<String>,
    app: Option<String>,
    key: Option<String>,
    api: Option<String>,
    table: Option<String>,
    /// The browser's time zone (the profile's wins).
    tz: Option<String>,
}

fn unknown_table(allowed: &str) -> AppError {
    AppError::field("table", format!("Choose one of: {allowed}."))
}

fn csv_response(name: &str, body: impl Into<Body>) -> Response {
    let mut res = body.into().into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn user(state: &AppState, session: Session) -> Result<CurrentUser, AppError> {
    enrolled(state, signed_in(state, &AuthSession::new(session)).await?).await
}

/// The signed-in user if their role is one of `allowed` (a refusal is audited).
async fn user_in_role(
    state: &AppState,
    session: Session,
    client: Option<Extension<ClientInfo>>,
    allowed: &[Role],
    attempted: &'static str,
) -> Result<CurrentUser, AppError> {
    let user = user(state, session).await?;
    let client = client.map(|Extension(c)| c).unwrap_or_default();
    in_role(state, user, allowed, attempted, &client).await
}

async fn developer_csv(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<TableQuery>,
) -> Result<Response, AppError> {
    let user = user(&state, session).await?;
    let range = UsageRange::parse(q.range.as_deref().unwrap_or_default());
    let wanted = Wanted::from_query(q.app.as_deref(), q.key.as_deref());
    let table = q.table.as_deref().unwrap_or("time");
    let allowed = "time, breakdown, apis";
    if !allowed.split(", ").any(|t| t == table) {
        return Err(unknown_table(allowed));
    }
    let at = service::When::new(state.clock.now(), &user, q.tz.as_deref());
    let data = service::report(&state, &user, range, wanted, at).await?;
    let body = match table {
        "time" => csv::chart(&data.chart),
        "breakdown" => csv::rows(&data.breakdown),
        _ => csv::rows(&data.apis),
    };
    Ok(csv_response(
        &format!("keyport-usage-{table}-{}.csv", range.as_str()),
        body,
    ))
}

async fn overview_csv(
    state: AppState,
    user: CurrentUser,
    q: TableQuery,
    platform: bool,
) -> Result<Response, AppError> {
    let range = UsageRange::parse(q.range.as_deref().unwrap_or_default());
    let table = q.table.as_deref().unwrap_or("time");
    let allowed = "time, apis, applications, keys, plans, subscriptions";
    if !allowed.split(", ").any(|t| t == table) {
        return Err(unknown_table(allowed));
    }
    let api = q.api.as_deref().filter(|a| !a.is_empty());
    let at = service::When::new(state.clock.now(), &user, q.tz.as_deref());
    let data = service::overview(&state, &user, range, api, platform, at).await?;
    let body = match table {
        "time" => csv::chart(&data.chart),
        "apis" => csv::rows(&data.apis),
        "applications" => csv::rows(&data.applications),
        "keys" => csv::rows(&data.keys),
        "plans" => csv::rows(&data.plans),
        _ => csv::rows(&data.subscriptions),
    };
    Ok(csv_response(
        &format!("keyport-usage-{table}-{}.csv", range.as_str()),
        body,
    ))
}

async fn publisher_csv(
    State(state): State<AppState>,
    session: Session,
    client: Option<Extension<ClientInfo>>,
    Query(q): Query<TableQuery>,
) -> Result<Response, AppError> {
    let allowed = [Role::Publisher, Role::Admin];
    let user = user_in_role(&state, session, client, &allowed, "api_usage_csv").await?;
    overview_csv(state, user, q, false).await
}

async fn admin_csv(
    State(state): State<AppState>,
    session: Session,
    client: Option<Extension<ClientInfo>>,
    Query(q): Query<TableQuery>,
) -> Result<Response, AppError> {
    let user = user_in_role(
        &state,
        session,
        client,
        &[Role::Admin],
        "platform_usage_csv",
    )
    .await?;
    overview_csv(state, user, q, true).await
}

/// A billing period: UTC days `from` (inclusive) to `to` (exclusive), `YYYY-MM-DD`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Period {
    /// The first UTC day, `2026-11-01` (default: the first of this month).
    #[param(format = Date)]
    from: Option<String>,
    /// The day after the last, `2026-12-01` (default: tomorrow). At most 366 days after `from`.
    #[param(format = Date)]
    to: Option<String>,
    /// `false` for one row per subscription over the whole period (default: one per day).
    per_day: Option<bool>,
}

/// The period in unix milliseconds, or a field error.
fn period(p: &Period, now: i64) -> Result<(i64, i64, bool), AppError> {
    const DAY: i64 = 86_400_000;
    let day = |field: &'static str, text: &str| {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(text, &format)
            .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
            .map_err(|_| AppError::field(field, "A UTC day as YYYY-MM-DD, e.g. 2026-11-01."))
    };
    // Absent: the default; present, even empty: a day.
    let from = match p.from.as_deref() {
        Some(text) => day("from", text)?,
        None => app::domain::QuotaPeriod::Month.start(now),
    };
    let to = match p.to.as_deref() {
        Some(text) => day("to", text)?,
        None => now - now.rem_euclid(DAY) + DAY,
    };
    if to <= from {
        return Err(AppError::field("to", "Must be after `from`."));
    }
    if to - from > 366 * DAY {
        return Err(AppError::field("to", "At most 366 days after `from`."));
    }
    Ok((from, to, p.per_day.unwrap_or(true)))
}

fn date(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

/// Streams the billing rows of `apis` (every API when `None`) through `each`, on a task of
/// its own, into a body.
fn stream_body(
    state: &AppState,
    apis: Option<Vec<String>>,
    (from, to, per_day): (i64, i64, bool),
    first: String,
    each: fn(&DailyUse) -> String,
) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<DailyUse>(256);
    let db = state.db.clone();
    tokio::spawn(async move {
        if let Err(e) = stream_daily(db, apis, (from, to), per_day, tx).await {
            tracing::warn!(error = ?e, "the billing export failed part-way");
        }
    });
    // Fused: a body layer (compression) may poll again after the end.
    let lines = futures::stream::unfold((Some(first), rx), move |(first, mut rx)| async move {
        if let Some(first) = first {
            return Some((Ok::<_, std::io::Error>(first), (None, rx)));
        }
        let row = rx.recv().await?;
        Some((Ok(each(&row)), (None, rx)))
    });
    Body::from_stream(futures::StreamExt::fuse(lines))
}

async fn billing_csv(
    State(state): State<AppState>,
    session: Session,
    client: Option<Extension<ClientInfo>>,
    Query(p): Query<Period>,
) -> Result<Response, AppError> {
    let allowed = [Role::Publisher, Role::Admin];
    let user = user_in_role(&state, session, client, &allowed, "billing_csv").await?;
    let period = period(&p, state.clock.now())?;
    let apis = match user.role {
        Role::Admin => None,
        _ => Some(
            app::catalog::service::managed_ids(&state, &user)
                .await?
                .into_iter()
                .map(|(id, _)| id)
                .collect(),
        ),
    };
    let name = format!(
        "keyport-billing-{}-{}.csv",
        date(period.0),
        date(period.1 - 1)
    );
    let body = stream_body(&state, apis, period, csv::daily_header(), |row| {
        csv::daily_line(&date(row.day), row)
    });
    Ok(csv_response(&name, body))
}

/// The billing rows of a period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageAnswer {
    /// The first UTC day, `YYYY-MM-DD`.
    from: String,
    /// The day after the last.
    to: String,
    rows: Vec<DailyUse>,
}

/// Usage per subscription (application and API) and UTC day, or over the whole period:
/// what billing needs. Allowed requests are those Keyport let through; refused ones were
/// answered with a refusal code.
#[utoipa::path(
    get,
    path = "/v1/usage",
    params(Period),
    security(("service_token" = []), ("service_token_header" = [])),
    responses(
        (status = 200, description = "The rows, by day, application and API", body = UsageAnswer),
        (status = 400, description = "The query string is not what is described (`per_day` not `true` or `false`)", body = crate::verify::ErrorBody),
        (status = 401, description = "Missing, wrong or revoked service token", body = crate::verify::ErrorBody),
        (status = 422, description = "`from` or `to` is not a UTC day, or the period is empty or longer than 366 days", body = crate::verify::FieldErrorBody),
    )
)]
pub async fn usage_json(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<Period>, QueryRejection>,
) -> Response {
    let now = state.clock.now();
    if !gateway(&state, bearer(&headers), now) {
        return no_service_token();
    }
    let Ok(Query(p)) = query else {
        return AppError::BadRequest {
            message: "The query string takes `from` and `to` (UTC days, YYYY-MM-DD) and `per_day` (`true` or `false`).".into(),
        }
        .into_response();
    };
    let period = match period(&p, now) {
        Ok(period) => period,
        Err(e) => return e.into_response(),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let db = state.db.clone();
    let reading = tokio::spawn(stream_daily(db, None, (period.0, period.1), period.2, tx));
    let mut rows = Vec::new();
    while let Some(row) = rx.recv().await {
        rows.push(row);
    }
    match reading.await {
        Ok(Ok(())) => Json(UsageAnswer {
            from: date(period.0),
            to: date(period.1),
            rows,
        })
        .into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => AppError::internal(e).into_response(),
    }
}
