//! Alerts from usage. [`run`] runs every minute (the time passed in) over the last
//! [`WINDOW`] of the minute rollups, the keys' client addresses and the quota counters, and
//! raises each alert once per occurrence: the `usage_alerts` primary key (rule, subject,
//! occurrence) is the claim, so several instances raise it once between them. The
//! application's owner is notified (in the portal, and by email when SMTP is set), with a
//! link to the chart that shows it.
//!
//! - **Quota**: a subscription used 80%, then 100%, of its plan's quota this period.
//! - **Leaked key**: a revoked or expired key (a rotated-out key past its grace period is
//!   expired) was tried [`LEAK_TRIES`] times within the window, or a rotated-out key is
//!   still used after half of its grace period. With the admin setting on, such a key in
//!   its grace period is revoked at once (suspended: its successor keeps working).
//! - **Refusal spike**: a key's refusals (other than revoked and expired) within the window
//!   are at least [`SPIKE_MIN`] and [`SPIKE_FACTOR`] times its average per window over the
//!   day before.
//! - **New network**: a key that was used before is used from a network (/24, /48) it has
//!   not been used from within the retention of the client addresses.

use crate::error::AppError;
use crate::notifications::{notify, Notice};
use crate::platform::rollup::{DAY_MS, HOUR_MS, MINUTE_MS};
use crate::platform::state::{fmt_time, AppState};
use sqlx::Row;
use std::collections::HashMap;

/// The stretch of time each rule looks at.
pub const WINDOW: i64 = 15 * MINUTE_MS;
/// Tries of a dead key (or uses of a rotated-out key late in its grace) that raise the
/// leaked-key alert.
pub const LEAK_TRIES: i64 = 5;
/// The fewest refusals that make a spike.
pub const SPIKE_MIN: i64 = 20;
/// How many times its usual refusals a key must see to spike.
pub const SPIKE_FACTOR: i64 = 5;
/// The most keys one run looks at per rule (the rest wait for the next run).
const MOST: i64 = 200;

/// What one run raised.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Raised {
    pub quota: usize,
    pub leaked: usize,
    /// Rotated-out keys revoked by the leaked-key rule.
    pub suspended: usize,
    pub spikes: usize,
    pub networks: usize,
}

/// One alert to raise once.
struct Alert {
    rule: &'static str,
    subject: String,
    occurrence: String,
    user_id: String,
    notice: Notice,
}

/// Inserts the alert's claim; `true` (and the owner is told) when it is new.
async fn raise(state: &AppState, alert: Alert, now: i64) -> Result<bool, AppError> {
    let claimed = sqlx::query(
        "INSERT INTO usage_alerts (rule, subject, occurrence, user_id, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (rule, subject, occurrence) DO NOTHING",
    )
    .bind(alert.rule)
    .bind(&alert.subject)
    .bind(&alert.occurrence)
    .bind(&alert.user_id)
    .bind(now)
    .execute(&state.db)
    .await?
    .rows_affected()
        == 1;
    if claimed {
        notify(state, &alert.user_id, alert.notice, now).await?;
    }
    Ok(claimed)
}

/// Runs every rule at `now`.
pub async fn run(state: &AppState, now: i64) -> Result<Raised, AppError> {
    let mut raised = Raised {
        quota: quotas(state, now).await?,
        ..Raised::default()
    };
    (raised.leaked, raised.suspended) = leaked_keys(state, now).await?;
    raised.spikes = spikes(state, now).await?;
    raised.networks = new_networks(state, now).await?;
    Ok(raised)
}

fn key_chart(key_id: &str, range: &str) -> Option<String> {
    Some(format!("/usage?key={key_id}&range={range}"))
}

async fn quotas(state: &AppState, now: i64) -> Result<usize, AppError> {
    use crate::domain::QuotaPeriod;
    let rows = sqlx::query(
        "SELECT s.id, s.application_id, a.name AS application, a.owner_id, api.name AS api, \
         p.quota, p.quota_period, q.period_start, q.used \
         FROM quota_usage q JOIN subscriptions s ON s.id = q.subscription_id \
         JOIN plans p ON p.id = s.plan_id JOIN applications a ON a.id = s.application_id \
         JOIN apis api ON api.id = s.api_id \
         WHERE p.quota IS NOT NULL AND q.period = p.quota_period \
         AND ((q.period = 'day' AND q.period_start = $1) OR (q.period = 'month' AND q.period_start = $2)) \
         AND q.used * 100 >= p.quota * 80 AND s.state IN ('active', 'suspended') \
         AND a.deleted_at IS NULL",
    )
    .bind(QuotaPeriod::Day.start(now))
    .bind(QuotaPeriod::Month.start(now))
    .fetch_all(&state.db)
    .await?;
    let mut raised = 0;
    for r in rows {
        let (used, quota): (i64, i64) = (r.try_get("used")?, r.try_get("quota")?);
        let period: String = r.try_get("quota_period")?;
        let (application, api): (String, String) = (r.try_get("application")?, r.try_get("api")?);
        let app_id: String = r.try_get("application_id")?;
        let ends = period
            .parse::<QuotaPeriod>()
            .map(|p| fmt_time(p.end(now)))
            .unwrap_or_default();
        let (rule, title, body) = if used >= quota {
            (
                "quota_100",
                format!("{application} reached its {api} quota"),
                format!(
                    "{application} used all {quota} requests of its {period} quota for {api}: \
                     further requests are refused until {ends}. A plan with a larger quota lifts it."
                ),
            )
        } else {
            (
                "quota_80",
                format!("{application} used 80% of its {api} quota"),
                format!(
                    "{application} used {used} of its {quota} requests for {api} this {period}. \
                     At 100% requests are refused until {ends}."
                ),
            )
        };
        let alert = Alert {
            rule,
            subject: r.try_get("id")?,
            occurrence: format!("{period}:{}", r.try_get::<i64, _>("period_start")?),
            user_id: r.try_get("owner_id")?,
            notice: Notice {
                title,
                body,
                link: Some(format!("/usage?app={app_id}&range=30d")),
            },
        };
        raised += usize::from(raise(state, alert, now).await?);
    }
    Ok(raised)
}

/// A key as the alerts name it.
struct KeyFacts {
    name: String,
    masked: String,
    application: String,
    owner_id: String,
    revoked: bool,
    rotated_at: Option<i64>,
    expires_at: Option<i64>,
}

/// The keys among `ids`, by id.
async fn keys(state: &AppState, ids: &[String]) -> Result<HashMap<String, KeyFacts>, AppError> {
    let rows = crate::platform::sql::fetch_in(
        &state.db,
        "SELECT k.id, k.name, k.display_prefix || '…' || k.last4 AS masked, a.name AS application, \
         a.owner_id, k.revoked_at, k.rotated_at, k.expires_at \
         FROM api_keys k JOIN applications a ON a.id = k.application_id \
         WHERE k.id IN ({in}) AND a.deleted_at IS NULL",
        ids,
        |r| {
            Ok((
                r.try_get::<String, _>("id")?,
                KeyFacts {
                    name: r.try_get("name")?,
                    masked: r.try_get("masked")?,
                    application: r.try_get("application")?,
                    owner_id: r.try_get("owner_id")?,
                    revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
                    rotated_at: r.try_get("rotated_at")?,
                    expires_at: r.try_get("expires_at")?,
                },
            ))
        },
    )
    .await?;
    Ok(rows.into_iter().collect())
}

/// Requests per key within `[from, to)` whose code is (or, with `negate`, is not) one of
/// `codes`, at least `least` of them, most first.
async fn key_sums(
    state: &AppState,
    from: i64,
    to: i64,
    codes: &[&str],
    negate: bool,
    least: i64,
) -> Result<Vec<(String, String, i64)>, AppError> {
    let list = codes
        .iter()
        .map(|c| format!("'{c}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let not = if negate { "NOT " } else { "" };
    let sql = format!(
        "SELECT key_id, MIN(application_id), CAST(SUM(requests) AS BIGINT) FROM usage_minutes \
         WHERE minute >= $1 AND minute < $2 AND key_id <> '' AND code {not}IN ({list}) \
         GROUP BY key_id HAVING SUM(requests) >= $3 ORDER BY 3 DESC LIMIT {MOST}"
    );
    Ok(sqlx::query_as(&sql)
        .bind(from)
        .bind(to)
        .bind(least)
        .fetch_all(&state.db)
        .await?)
}

/// Dead keys still tried, and rotated-out keys still used late in their grace period.
async fn leaked_keys(state: &AppState, now: i64) -> Result<(usize, usize), AppError> {
    let from = now - WINDOW;
    let day = (now - now.rem_euclid(DAY_MS)).to_string();
    let (mut raised, mut suspended) = (0, 0);
    let dead = key_sums(state, from, now, &["REVOKED", "EXPIRED"], false, LEAK_TRIES).await?;
    let ids: Vec<String> = dead.iter().map(|(id, _, _)| id.clone()).collect();
    let facts = keys(state, &ids).await?;
    for (id, _, tries) in dead {
        let Some(k) = facts.get(&id) else { continue };
        let state_word = match (k.revoked, k.rotated_at) {
            (true, _) => "revoked",
            (false, Some(_)) => "rotated-out",
            (false, None) => "expired",
        };
        let alert = Alert {
            rule: "leaked_key",
            subject: id.clone(),
            occurrence: day.clone(),
            user_id: k.owner_id.clone(),
            notice: Notice {
                title: format!("A {state_word} key of {} is still tried", k.application),
                body: format!(
                    "The key {} ({}) of {} is {state_word} and no longer works, yet it was tried {tries} times in the last \
                     15 minutes. If none of your clients should still hold it, it may have leaked: the \
                     chart shows when and from where.",
                    k.masked, k.name, k.application
                ),
                link: key_chart(&id, "24h"),
            },
        };
        raised += usize::from(raise(state, alert, now).await?);
    }
    // Rotated-out keys in their grace period, past its middle.
    let late: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM api_keys WHERE replaced_by IS NOT NULL AND revoked_at IS NULL \
         AND rotated_at IS NOT NULL AND expires_at > $1 AND $1 - rotated_at >= (expires_at - rotated_at) / 2",
    )
    .bind(now)
    .fetch_all(&state.db)
    .await?;
    if late.is_empty() {
        return Ok((raised, suspended));
    }
    let facts = keys(state, &late).await?;
    let policy = crate::keys::service::portal_policy(&state.db).await?;
    let used = key_sums(state, from, now, &["VALID"], false, LEAK_TRIES).await?;
    for (id, _, uses) in used {
        let Some(k) = facts.get(&id) else { continue };
        let (Some(rotated), Some(ends)) = (k.rotated_at, k.expires_at) else {
            continue;
        };
        let half = rotated + (ends - rotated) / 2;
        // The window began before the middle of the grace: count only the uses after it.
        let uses = if half > from {
            sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM usage_minutes \
                 WHERE minute >= $1 AND minute < $2 AND key_id = $3 AND code = 'VALID'",
            )
            .bind(half - half.rem_euclid(MINUTE_MS))
            .bind(now)
            .bind(&id)
            .fetch_one(&state.db)
            .await?
        } else {
            uses
        };
        if uses < LEAK_TRIES {
            continue;
        }
        let revoke = policy.suspend_leaked
            && crate::keys::service::leaks::suspend(
                state,
                &id,
                serde_json::json!({
                    "application": k.application, "name": k.name, "key": k.masked, "uses": uses,
                }),
                now,
            )
            .await?;
        suspended += usize::from(revoke);
        let what = if revoke {
            "Keyport revoked it, as the portal's policy asks: its replacement keeps working."
                .to_string()
        } else {
            format!(
                "It keeps working until {}. If all your clients have the new key, someone else may \
                 hold this one: revoke it now.",
                fmt_time(ends)
            )
        };
        // Alerted once in use, and once more when revoked (the policy may change between).
        let alert = Alert {
            rule: "leaked_key",
            subject: id.clone(),
            occurrence: format!("{}:{rotated}", if revoke { "suspended" } else { "grace" }),
            user_id: k.owner_id.clone(),
            notice: Notice {
                title: format!("A rotated-out key of {} is still in use", k.application),
                body: format!(
                    "The key {} ({}) of {} was rotated on {} and was used {uses} times in the last \
                     15 minutes, more than halfway through its grace period (since {}). {what}",
                    k.masked,
                    k.name,
                    k.application,
                    fmt_time(rotated),
                    fmt_time(half),
                ),
                link: key_chart(&id, "24h"),
            },
        };
        raised += usize::from(raise(state, alert, now).await?);
    }
    Ok((raised, suspended))
}

/// Keys refused far more often than usual.
async fn spikes(state: &AppState, now: i64) -> Result<usize, AppError> {
    let from = now - WINDOW;
    let hour = (now - now.rem_euclid(HOUR_MS)).to_string();
    let candidates = key_sums(
        state,
        from,
        now,
        &["VALID", "REVOKED", "EXPIRED"],
        true,
        SPIKE_MIN,
    )
    .await?;
    if candidates.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = candidates.iter().map(|(id, _, _)| id.clone()).collect();
    let facts = keys(state, &ids).await?;
    // The day before the window, from the hours (application first: one index range each).
    let (base_from, base_to) = (from - DAY_MS, from - from.rem_euclid(HOUR_MS));
    let mut raised = 0;
    for (id, app_id, refused) in candidates {
        let Some(k) = facts.get(&id) else { continue };
        let before: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM usage_hours \
             WHERE application_id = $1 AND hour >= $2 AND hour < $3 AND key_id = $4 \
             AND code NOT IN ('VALID', 'REVOKED', 'EXPIRED')",
        )
        .bind(&app_id)
        .bind(base_from)
        .bind(base_to)
        .bind(&id)
        .fetch_one(&state.db)
        .await?;
        let usual = before * WINDOW / (base_to - base_from).max(WINDOW);
        if refused < SPIKE_FACTOR * usual {
            continue;
        }
        let alert = Alert {
            rule: "refusal_spike",
            subject: id.clone(),
            occurrence: hour.clone(),
            user_id: k.owner_id.clone(),
            notice: Notice {
                title: format!("Refusals for a key of {} spiked", k.application),
                body: format!(
                    "The key {} ({}) of {} was refused {refused} times in the last 15 minutes \
                     (usually about {usual}). The chart shows which refusals: a rate limit, a quota, \
                     an address or scope not allowed.",
                    k.masked, k.name, k.application
                ),
                link: key_chart(&id, "1h"),
            },
        };
        raised += usize::from(raise(state, alert, now).await?);
    }
    Ok(raised)
}

/// Keys used from a network they were not used from before.
async fn new_networks(state: &AppState, now: i64) -> Result<usize, AppError> {
    let from = now - WINDOW;
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.key_id, c.network, MIN(c.client_ip) FROM usage_clients c \
         WHERE c.day >= $1 AND c.first_seen >= $2 AND c.first_seen < $3 \
         AND NOT EXISTS (SELECT 1 FROM usage_clients p WHERE p.key_id = c.key_id \
           AND p.network = c.network AND p.first_seen < c.first_seen) \
         AND EXISTS (SELECT 1 FROM usage_clients q WHERE q.key_id = c.key_id \
           AND q.network <> c.network AND q.first_seen < c.first_seen) \
         GROUP BY c.key_id, c.network ORDER BY c.key_id, c.network LIMIT 200",
    )
    .bind(from - from.rem_euclid(DAY_MS))
    .bind(from)
    .bind(now)
    .fetch_all(&state.db)
    .await?;
    let ids: Vec<String> = rows.iter().map(|(id, _, _)| id.clone()).collect();
    let facts = keys(state, &ids).await?;
    let mut raised = 0;
    for (id, network, ip) in rows {
        let Some(k) = facts.get(&id) else { continue };
        let alert = Alert {
            rule: "new_network",
            subject: id.clone(),
            occurrence: network.clone(),
            user_id: k.owner_id.clone(),
            notice: Notice {
                title: format!("A key of {} was used from a new network", k.application),
                body: format!(
                    "The key {} ({}) of {} was used from {ip} (network {network}), where it had not \
                     been used before. If that is not one of your clients, rotate or revoke the key.",
                    k.masked, k.name, k.application
                ),
                link: key_chart(&id, "24h"),
            },
        };
        raised += usize::from(raise(state, alert, now).await?);
    }
    Ok(raised)
}
