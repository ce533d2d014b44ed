//! The admin's key lifecycle policy: a portal-wide maximum lifetime, a forced rotation age,
//! how long before either the owner is reminded, and what a leak report does. Stored as one
//! JSON value in `settings`.

use super::{KeySettings, LeakAction};
use crate::error::{AppError, FormErrors};
use crate::platform::state::Db;

const KEY: &str = "key_policy";

impl Default for KeySettings {
    fn default() -> Self {
        KeySettings {
            max_lifetime_days: None,
            rotation_days: None,
            reminder_days: 7,
            leak_action: LeakAction::Revoke,
        }
    }
}

pub async fn load(db: &Db) -> Result<KeySettings, AppError> {
    Ok(crate::platform::settings::get(db, KEY)
        .await?
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default())
}

pub async fn save(db: &Db, s: &KeySettings, by: &str, now: i64) -> Result<(), AppError> {
    let value = serde_json::to_string(s).map_err(AppError::internal)?;
    crate::platform::settings::put(db, KEY, &value, Some(by), now).await
}

/// The settings form: days as whole numbers (empty: no limit), the leak action by name.
pub fn parse(
    max_lifetime_days: &str,
    rotation_days: &str,
    reminder_days: &str,
    leak_action: &str,
) -> Result<KeySettings, AppError> {
    use crate::domain::optional_count;
    let mut e = FormErrors::new();
    let max = e.check(
        "max_lifetime_days",
        optional_count(max_lifetime_days, 1, 3650),
    );
    let rotation = e.check("rotation_days", optional_count(rotation_days, 1, 3650));
    let reminder = e.check(
        "reminder_days",
        optional_count(reminder_days, 1, 90).and_then(|d| {
            d.ok_or_else(|| "Enter how many days ahead to remind (1 to 90).".to_string())
        }),
    );
    let leak = e.check("leak_action", leak_action.parse::<LeakAction>());
    match (max, rotation, reminder, leak) {
        (Some(max_lifetime_days), Some(rotation_days), Some(reminder_days), Some(leak_action))
            if e.is_empty() =>
        {
            Ok(KeySettings {
                max_lifetime_days,
                rotation_days,
                reminder_days,
                leak_action,
            })
        }
        _ => Err(e.into_error()),
    }
}
