//! The key lifecycle job, run every minute by the server and by tests with the time passed
//! in: refills use counters at the start of each day or month, applies the portal's
//! rotation age as a cap on every key's expiry, and reminds owners before keys expire.
//! Each step is one conditional statement, so several instances can run it at once.

use crate::domain::QuotaPeriod;
use crate::error::AppError;
use crate::platform::audit::{record, Event};
use crate::platform::state::{fmt_time, AppState, ClientInfo};
use sqlx::Row;

const DAY_MS: i64 = 24 * 3_600_000;

/// What one run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub refilled: u64,
    pub capped: u64,
    pub reminded: usize,
}

/// The first instant of `now`'s UTC day or month.
pub fn period_start(period: QuotaPeriod, now: i64) -> i64 {
    let day = now.div_euclid(DAY_MS) * DAY_MS;
    match period {
        QuotaPeriod::Day => day,
        QuotaPeriod::Month => {
            let date = time::OffsetDateTime::from_unix_timestamp(day / 1000)
                .map(|t| t.date())
                .unwrap_or(time::Date::MIN);
            let first = date.replace_day(1).unwrap_or(date);
            first.midnight().assume_utc().unix_timestamp() * 1000
        }
    }
}

pub async fn run(state: &AppState, now: i64) -> Result<Report, AppError> {
    let db = &state.db;
    let policy = super::settings::load(db).await?;
    let mut report = Report::default();
    for period in QuotaPeriod::ALL {
        report.refilled += sqlx::query(
            "UPDATE api_keys SET remaining_uses = max_uses, refilled_at = $1 \
             WHERE refill_period = $2 AND refilled_at < $3 AND max_uses IS NOT NULL AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(period.as_str())
        .bind(period_start(*period, now))
        .execute(db)
        .await?
        .rows_affected();
    }
    let lead = policy.reminder_days * DAY_MS;
    if let Some(days) = policy.rotation_days {
        // A key may live `days` from its creation; one already older gets the reminder lead
        // time from now, so nobody's key stops without warning.
        let cap = "CASE WHEN created_at + $1 > $2 THEN created_at + $1 ELSE $2 END";
        report.capped = sqlx::query(&format!(
            "UPDATE api_keys SET expires_at = {cap} WHERE revoked_at IS NULL AND replaced_by IS NULL \
             AND (expires_at IS NULL OR expires_at > {cap})"
        ))
        .bind(days * DAY_MS)
        .bind(now + lead)
        .execute(db)
        .await?
        .rows_affected();
        if report.capped > 0 {
            record(
                db,
                now,
                &ClientInfo::default(),
                Event::new("key.rotation_age").details(serde_json::json!({
                    "keys": report.capped, "rotation_days": days,
                })),
            )
            .await?;
        }
    }
    // Keys meant to live longer than the lead time, expiring within it, not yet reminded.
    let due = sqlx::query(
        "SELECT k.id, k.name, k.display_prefix, k.last4, k.expires_at, ap.name AS application, ap.owner_id \
         FROM api_keys k JOIN applications ap ON ap.id = k.application_id \
         WHERE k.revoked_at IS NULL AND k.replaced_by IS NULL AND k.expiry_reminded_at IS NULL \
         AND k.expires_at > $1 AND k.expires_at <= $2 AND k.expires_at - k.created_at > $3 \
         AND ap.deleted_at IS NULL ORDER BY k.expires_at LIMIT 1000",
    )
    .bind(now)
    .bind(now + lead)
    .bind(lead)
    .fetch_all(db)
    .await?;
    for row in due {
        let id: String = row.try_get("id")?;
        let claimed = sqlx::query(
            "UPDATE api_keys SET expiry_reminded_at = $1 WHERE id = $2 AND expiry_reminded_at IS NULL",
        )
        .bind(now)
        .bind(&id)
        .execute(db)
        .await?
        .rows_affected();
        if claimed == 0 {
            continue;
        }
        let name: String = row.try_get("name")?;
        let application: String = row.try_get("application")?;
        let masked = format!(
            "{}…{}",
            row.try_get::<String, _>("display_prefix")?,
            row.try_get::<String, _>("last4")?
        );
        let expires = fmt_time(row.try_get("expires_at")?);
        crate::notifications::notify(
            state,
            &row.try_get::<String, _>("owner_id")?,
            crate::notifications::Notice {
                title: format!("Key {name} of {application} expires {expires}"),
                body: format!(
                    "The key {masked} ({name}) of {application} stops working at {expires}. \
                     Rotate it before then: the new key has the same attributes, and the old one \
                     can keep working for a grace period while your clients switch."
                ),
                link: Some("/applications".into()),
            },
            now,
        )
        .await?;
        report.reminded += 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_at_utc_midnight_and_the_first_of_the_month() {
        // 2026-11-23 16:06:27.5 UTC
        let now = 1_795_449_987_500;
        assert_eq!(period_start(QuotaPeriod::Day, now), 1_795_392_000_000);
        assert_eq!(period_start(QuotaPeriod::Month, now), 1_793_491_200_000);
        let midnight = period_start(QuotaPeriod::Day, now);
        assert_eq!(period_start(QuotaPeriod::Day, midnight), midnight);
        assert_eq!(
            period_start(QuotaPeriod::Day, midnight - 1),
            midnight - DAY_MS
        );
    }
}
