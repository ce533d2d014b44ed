//! Reading usage: one statement per chart or table, whatever the number of keys. A
//! statement reads the hours (or, for the last hour, the minutes) and adds the minutes the
//! roll-up has not reached yet (`platform::rollup`), in the same statement so the two agree.

use crate::error::AppError;
use crate::platform::rollup::HOUR_MS;
use crate::platform::state::Db;

/// Whose usage.
#[derive(Debug, Clone, Copy)]
pub enum Filter<'a> {
    Applications(&'a [String]),
    /// Keys of one application (the levels are keyed application first).
    Keys(&'a str, &'a [String]),
    Apis(&'a [String]),
    /// The whole platform.
    All,
}

/// What a row is summed by, besides the decision code.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum By {
    /// The sums' time unit (minute or hour).
    Time,
    /// The sums' time unit and the key.
    TimeAndKey,
    Key,
    Api,
    Application,
    /// Application, API and key: `g` is `application_id api_id key_id` (every list of a
    /// page from one read).
    Cell,
}

/// One sum: its time (0 unless by time), group (key, API or application id; empty by
/// time alone), decision code and requests.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Sum {
    pub t: i64,
    pub g: String,
    pub code: String,
    pub n: i64,
}

/// The level a question reads: the minutes for the last hour; over time, the hours by key
/// (an application's or a key's charts) or by API (an API's or the platform's); lists
/// (by key, API, application, subscription) the hours up to two days and the UTC days
/// beyond (`from` is then taken back to its day's start).
fn level(
    filter: Filter<'_>,
    by: By,
    by_minute: bool,
    long: bool,
) -> (&'static str, &'static str, i64) {
    use crate::platform::rollup::{DAY_MS, MINUTE_MS};
    let over_time = matches!(by, By::Time | By::TimeAndKey);
    match filter {
        _ if by_minute => ("usage_minutes", "minute", MINUTE_MS),
        Filter::Apis(_) | Filter::All if over_time => ("usage_api_hours", "hour", HOUR_MS),
        _ if !over_time && long => ("usage_days", "day", DAY_MS),
        _ => ("usage_hours", "hour", HOUR_MS),
    }
}

/// The requests of `filter` in `[from, to)` summed by `by` and code; per minute when
/// `by_minute` (only the minutes are read: the last hour), else per hour (or per UTC day for
/// an API's or the platform's lists, see [`level`]).
pub async fn sums(
    db: &Db,
    filter: Filter<'_>,
    from: i64,
    to: i64,
    by_minute: bool,
    by: By,
) -> Result<Vec<Sum>, AppError> {
    let (column, ids): (&str, &[String]) = match filter {
        Filter::Applications(ids) => ("application_id", ids),
        Filter::Keys(_, ids) => ("key_id", ids),
        Filter::Apis(ids) => ("api_id", ids),
        Filter::All => ("", &[]),
    };
    if ids.is_empty() && !matches!(filter, Filter::All) {
        return Ok(Vec::new());
    }
    let long = to - from > 2 * crate::platform::rollup::DAY_MS;
    let (table, time, unit) = level(filter, by, by_minute, long);
    let from = from - from.rem_euclid(unit);
    // $1 from, $2 to, [$3 the application,] then the ids.
    let first = if let Filter::Keys(..) = filter { 4 } else { 3 };
    let mut only = if let Filter::Keys(..) = filter {
        " AND application_id = $3".to_string()
    } else {
        String::new()
    };
    if !column.is_empty() {
        let list = (first..first + ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        only.push_str(&format!(" AND {column} IN ({list})"));
    }
    let minute_t = format!("minute - minute % {unit}");
    let group = |t: &str| match by {
        By::Time => format!("{t} AS t, '' AS g"),
        By::TimeAndKey => format!("{t} AS t, key_id AS g"),
        By::Key => "CAST(0 AS BIGINT) AS t, key_id AS g".to_string(),
        By::Api => "CAST(0 AS BIGINT) AS t, api_id AS g".to_string(),
        By::Application => "CAST(0 AS BIGINT) AS t, application_id AS g".to_string(),
        By::Cell => "CAST(0 AS BIGINT) AS t, application_id || ' ' || api_id || ' ' || key_id AS g"
            .to_string(),
    };
    let minutes = |since: &str| {
        format!(
            "SELECT {}, code, requests FROM usage_minutes WHERE minute >= {since} AND minute < $2{only}",
            group(&minute_t)
        )
    };
    let inner = if by_minute {
        minutes("$1")
    } else {
        // One lower bound for the minutes (the later of `from` and the roll-up's progress),
        // so the database reads only that range of the time-first key.
        format!(
            "SELECT {}, code, requests FROM {table} WHERE {time} >= $1 AND {time} < $2{only} \
             UNION ALL {}",
            group(time),
            minutes(
                "(SELECT CASE WHEN done_until > $1 THEN done_until ELSE $1 END \
                 FROM usage_rollup WHERE id = 1)"
            )
        )
    };
    let sql = format!(
        "SELECT t, g, code, CAST(SUM(requests) AS BIGINT) AS n FROM ({inner}) AS u \
         GROUP BY t, g, code ORDER BY t, g, code"
    );
    let mut q = sqlx::query_as::<_, Sum>(&sql).bind(from).bind(to);
    if let Filter::Keys(app, _) = filter {
        q = q.bind(app);
    }
    for id in ids {
        q = q.bind(id);
    }
    Ok(q.fetch_all(db).await?)
}

/// A key's busiest client addresses on the UTC days from `from_day` on (a day's rows
/// are one range of the primary key), most requests first.
pub async fn top_clients(
    db: &Db,
    key_id: &str,
    from_day: i64,
    limit: i64,
) -> Result<Vec<(String, String, i64, i64)>, AppError> {
    Ok(sqlx::query_as(
        "SELECT client_ip, MIN(network), CAST(SUM(requests) AS BIGINT), MAX(last_seen) \
         FROM usage_clients WHERE key_id = $1 AND day >= $2 GROUP BY client_ip \
         ORDER BY 3 DESC, 1 LIMIT $3",
    )
    .bind(key_id)
    .bind(from_day)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// One call as the raw events keep it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Call {
    pub at: i64,
    pub key_id: String,
    pub api_id: Option<String>,
    pub code: String,
    pub client_ip: Option<String>,
    pub upstream_status: Option<i64>,
    pub latency_ms: Option<i64>,
    pub bytes: Option<i64>,
}

/// How many of the installation's latest raw events [`latest_calls`] searches.
pub const LATEST_CALLS_SEARCHED: i64 = 50_000;

/// The latest `limit` calls of the application `app` since `from` (of its key `key` alone,
/// when given), newest first, among the installation's latest [`LATEST_CALLS_SEARCHED`]
/// raw events: a bounded backward walk of `usage_events_at_idx`. An index by application
/// would find older ones too, but its inserts land at one spot per active application and
/// cost the gateway a tenth of its throughput with 1,000 busy applications.
pub async fn latest_calls(
    db: &Db,
    app: &str,
    key: Option<&str>,
    from: i64,
    limit: i64,
) -> Result<Vec<Call>, AppError> {
    let only_key = if key.is_some() {
        " AND key_id = $5"
    } else {
        ""
    };
    let sql = format!(
        "SELECT at, key_id, api_id, code, client_ip, upstream_status, latency_ms, bytes \
         FROM (SELECT * FROM usage_events WHERE at >= $2 ORDER BY at DESC LIMIT $4) AS latest \
         WHERE application_id = $1{only_key} ORDER BY at DESC, id DESC LIMIT $3"
    );
    let mut q = sqlx::query_as::<_, Call>(&sql)
        .bind(app)
        .bind(from)
        .bind(limit)
        .bind(LATEST_CALLS_SEARCHED);
    if let Some(key) = key {
        q = q.bind(key);
    }
    Ok(q.fetch_all(db).await?)
}

/// One application's use of one API (its subscription) in a UTC day, or in the whole
/// period (`day` is then the period's start), for billing.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct DailyUse {
    /// The UTC day (or the period's start) in unix milliseconds.
    pub day: i64,
    pub application_id: String,
    pub application: String,
    pub api_id: String,
    pub api: String,
    /// The application's latest subscription to the API (empty if none).
    pub subscription_id: String,
    pub plan: String,
    pub allowed: i64,
    pub refused: i64,
}

/// The [`DailyUse`] rows of `[from, to)` (UTC day starts) for the APIs `apis` (every API
/// when `None`): the days plus the minutes not yet rolled up, by day unless `per_day` is
/// false, ordered by day, application and API. `$1` from, `$2` to, then the API ids.
fn daily_sql(apis: Option<usize>, per_day: bool) -> String {
    use crate::platform::rollup::DAY_MS;
    let only = match apis {
        Some(n) => format!(
            " AND u.api_id IN ({})",
            (3..3 + n)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => String::new(),
    };
    let (day, group) = if per_day {
        ("u.day", "u.day, ")
    } else {
        ("CAST($1 AS BIGINT)", "")
    };
    // Summed first (a few thousand rows), then named: the latest subscription of each
    // application and API is looked up once per row of the result, not per day row read.
    format!(
        "SELECT v.day, v.application_id, COALESCE(ap.name, '') AS application, v.api_id, \
         COALESCE(a.name, '') AS api, COALESCE(s.id, '') AS subscription_id, \
         COALESCE(p.name, '') AS plan, v.allowed, v.refused FROM ( \
         SELECT {day} AS day, u.application_id, u.api_id, \
         CAST(SUM(CASE WHEN u.code = 'VALID' THEN u.requests ELSE 0 END) AS BIGINT) AS allowed, \
         CAST(SUM(CASE WHEN u.code = 'VALID' THEN 0 ELSE u.requests END) AS BIGINT) AS refused \
         FROM (SELECT day, application_id, api_id, code, requests FROM usage_days \
         WHERE day >= $1 AND day < $2 UNION ALL \
         SELECT minute - minute % {DAY_MS}, application_id, api_id, code, requests FROM usage_minutes \
         WHERE minute >= (SELECT CASE WHEN done_until > $1 THEN done_until ELSE $1 END \
         FROM usage_rollup WHERE id = 1) AND minute < $2) AS u \
         WHERE u.application_id <> ''{only} \
         GROUP BY {group}u.application_id, u.api_id) AS v \
         LEFT JOIN applications ap ON ap.id = v.application_id \
         LEFT JOIN apis a ON a.id = v.api_id \
         LEFT JOIN subscriptions s ON s.id = (SELECT id FROM subscriptions l \
         WHERE l.application_id = v.application_id AND l.api_id = v.api_id \
         ORDER BY l.created_at DESC, l.id LIMIT 1) \
         LEFT JOIN plans p ON p.id = s.plan_id \
         ORDER BY v.day, application, api, v.application_id, v.api_id"
    )
}

/// Streams the [`DailyUse`] rows (see [`daily_sql`]) into `rows` as the database returns
/// them; stops early when the receiver is gone.
pub async fn stream_daily(
    db: Db,
    apis: Option<Vec<String>>,
    (from, to): (i64, i64),
    per_day: bool,
    rows: tokio::sync::mpsc::Sender<DailyUse>,
) -> Result<(), AppError> {
    use futures::TryStreamExt;
    let sql = daily_sql(apis.as_ref().map(Vec::len), per_day);
    let mut q = sqlx::query_as::<_, DailyUse>(&sql).bind(from).bind(to);
    for id in apis.iter().flatten() {
        q = q.bind(id);
    }
    let mut stream = q.fetch(&db);
    while let Some(row) = stream.try_next().await? {
        if rows.send(row).await.is_err() {
            break;
        }
    }
    Ok(())
}
