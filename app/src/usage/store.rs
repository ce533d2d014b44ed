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
    Keys(&'a [String]),
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

/// The requests of `filter` in `[from, to)` summed by `by` and code; per minute when
/// `by_minute` (only the minutes are read: the last hour), else per hour.
pub async fn sums(
    db: &Db,
    filter: Filter<'_>,
    from: i64,
    to: i64,
    by_minute: bool,
    by: By,
) -> Result<Vec<Sum>, AppError> {
    let (column, ids) = match filter {
        Filter::Applications(ids) => ("application_id", ids),
        Filter::Keys(ids) => ("key_id", ids),
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // $1 from, $2 to, then the ids.
    let list = (3..3 + ids.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let hour_of_minute = format!("minute - minute % {HOUR_MS}");
    let (level_t, minute_t) = if by_minute {
        ("minute", "minute")
    } else {
        ("hour", hour_of_minute.as_str())
    };
    let group = |t: &str| match by {
        By::Time => format!("{t} AS t, '' AS g"),
        By::TimeAndKey => format!("{t} AS t, key_id AS g"),
        By::Key => "0 AS t, key_id AS g".to_string(),
        By::Api => "0 AS t, api_id AS g".to_string(),
        By::Application => "0 AS t, application_id AS g".to_string(),
    };
    let minutes = format!(
        "SELECT {}, code, requests FROM usage_minutes WHERE minute >= $1 AND minute < $2 \
         AND {column} IN ({list})",
        group(minute_t)
    );
    let inner = if by_minute {
        minutes
    } else {
        format!(
            "SELECT {}, code, requests FROM usage_hours WHERE hour >= $1 AND hour < $2 \
             AND {column} IN ({list}) UNION ALL {minutes} \
             AND minute >= (SELECT done_until FROM usage_rollup WHERE id = 1)",
            group(level_t)
        )
    };
    let sql = format!(
        "SELECT t, g, code, CAST(SUM(requests) AS BIGINT) AS n FROM ({inner}) AS u \
         GROUP BY t, g, code ORDER BY t, g, code"
    );
    let mut q = sqlx::query_as::<_, Sum>(&sql).bind(from).bind(to);
    for id in ids {
        q = q.bind(id);
    }
    Ok(q.fetch_all(db).await?)
}
