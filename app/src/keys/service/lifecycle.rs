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

pub async fn run(state: &AppState, now: i64) -> Result<Report, AppError> {
    let db = &state.db;
    let policy = store::policy(db).await?;
    let mut report = Report::default();
    for period in QuotaPeriod::ALL {
        report.refilled += store::refill_uses(db, *period, period.start(now), now).await?;
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
