//! Back-off for guessing: failures per key (an account, a client IP) within a window lock
//! the key for an exponentially growing time. Kept in the database so that every instance
//! sees the same counts.

use crate::error::AppError;
use crate::state::Db;
use sqlx::Row;

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures allowed in the window before the key is locked.
    pub max_failures: i64,
    pub window_ms: i64,
    /// First lock; doubles with each further failure up to `max_lock_ms`.
    pub base_lock_ms: i64,
    pub max_lock_ms: i64,
}

/// Per account: 5 failures in 15 minutes, then 30 s, 1 min, 2 min … up to 15 minutes.
pub const ACCOUNT: Policy = Policy {
    max_failures: 5,
    window_ms: 15 * 60_000,
    base_lock_ms: 30_000,
    max_lock_ms: 15 * 60_000,
};

/// Per client IP: 20 failures in 15 minutes (one address spraying many accounts).
pub const CLIENT_IP: Policy = Policy {
    max_failures: 20,
    window_ms: 15 * 60_000,
    base_lock_ms: 60_000,
    max_lock_ms: 15 * 60_000,
};

/// Refuses with `RateLimited` while `key` is locked.
pub async fn check(db: &Db, key: &str, now: i64) -> Result<(), AppError> {
    let locked_until: Option<i64> = sqlx::query("SELECT locked_until FROM throttle WHERE key = $1")
        .bind(key)
        .fetch_optional(db)
        .await?
        .map(|r| r.try_get("locked_until"))
        .transpose()?;
    match locked_until {
        Some(until) if until > now => Err(AppError::RateLimited {
            retry_after_secs: ((until - now) as u64).div_ceil(1000),
        }),
        _ => Ok(()),
    }
}

/// Counts a failure for `key`, locking it once the policy says so. The count is one atomic
/// upsert, so a parallel burst of guesses is counted in full on both backends.
pub async fn fail(db: &Db, key: &str, policy: Policy, now: i64) -> Result<(), AppError> {
    let failures: i64 = sqlx::query(
        "INSERT INTO throttle (key, failures, window_start, locked_until) VALUES ($1, 1, $2, 0) \
         ON CONFLICT (key) DO UPDATE SET \
         failures = CASE WHEN $2 - throttle.window_start > $3 THEN 1 ELSE throttle.failures + 1 END, \
         window_start = CASE WHEN $2 - throttle.window_start > $3 THEN $2 ELSE throttle.window_start END \
         RETURNING failures",
    )
    .bind(key)
    .bind(now)
    .bind(policy.window_ms)
    .fetch_one(db)
    .await?
    .try_get("failures")?;
    let locked_until = lock_until(policy, failures, now);
    if locked_until > 0 {
        sqlx::query("UPDATE throttle SET locked_until = $1 WHERE key = $2 AND locked_until < $1")
            .bind(locked_until)
            .bind(key)
            .execute(db)
            .await?;
    }
    Ok(())
}

fn lock_until(policy: Policy, failures: i64, now: i64) -> i64 {
    if failures < policy.max_failures {
        return 0;
    }
    let doublings = (failures - policy.max_failures).min(20) as u32;
    now + policy
        .base_lock_ms
        .saturating_mul(1 << doublings)
        .min(policy.max_lock_ms)
}

/// Forgets the failures of `key` (after a success).
pub async fn clear(db: &Db, key: &str) -> Result<(), AppError> {
    sqlx::query("DELETE FROM throttle WHERE key = $1")
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_grows_exponentially_and_is_capped() {
        let now = 1_000;
        assert_eq!(lock_until(ACCOUNT, 4, now), 0);
        assert_eq!(lock_until(ACCOUNT, 5, now), now + 30_000);
        assert_eq!(lock_until(ACCOUNT, 6, now), now + 60_000);
        assert_eq!(lock_until(ACCOUNT, 7, now), now + 120_000);
        assert_eq!(lock_until(ACCOUNT, 40, now), now + 15 * 60_000);
    }
}
