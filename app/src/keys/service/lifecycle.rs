//! The key lifecycle job, run every minute by the server and by tests with the time passed
//! in: refills use counters at the start of each day or month, applies the portal's
//! rotation age as a cap on every key's expiry, and reminds owners before keys expire.
//! Each step is one conditional statement (in the store), so several instances can run it
//! at once.

use crate::domain::QuotaPeriod;
use crate::error::AppError;
use crate::keys::store;
use crate::platform::audit::{record, Event};
use crate::platform::state::{fmt_time, AppState, ClientInfo};

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
    let policy = store::policy(db).await?;
    let mut report = Report::default();
    for period in QuotaPeriod::ALL {
        report.refilled += store::refill_uses(db, *period, period_start(*period, now), now).await?;
    }
    let lead = policy.reminder_days * DAY_MS;
    if let Some(days) = policy.rotation_days {
        // A key may live `days` from its creation; one already older gets the reminder lead
        // time from now, so nobody's key stops without warning.
        report.capped = store::cap_lifetime(db, days * DAY_MS, now + lead).await?;
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
    for due in store::due_reminders(db, now, lead).await? {
        if !store::claim_reminder(db, &due.id, now).await? {
            continue;
        }
        let store::Due {
            name,
            masked,
            application,
            ..
        } = &due;
        let expires = fmt_time(due.expires_at);
        crate::notifications::notify(
            state,
            &due.owner_id,
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
