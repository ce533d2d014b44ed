//! Back-off for guessing, kept in the database so that every instance sees the same counts.
//! An attempt is **reserved before the secret is checked**: one atomic upsert counts it and
//! answers whether it may go ahead, so a parallel burst gets exactly the allowed number of
//! checks and the rest a 429. Past the allowance the key is locked for a time that doubles
//! with each further attempt. A success clears the key (an account, a TOTP secret) or gives
//! its attempt back (a client address, where successes are not guesses).

use crate::error::AppError;
use crate::platform::state::Db;

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Attempts allowed in the window; the next one is refused and locks the key.
    pub max_attempts: i64,
    pub window_ms: i64,
    /// First lock; doubles with each further attempt up to `max_lock_ms`.
    pub base_lock_ms: i64,
    pub max_lock_ms: i64,
}

/// Per account (passwords, current-password checks, TOTP and recovery codes): 5 in
/// 15 minutes, then 30 s, 1 min, 2 min … up to 15 minutes.
pub const ACCOUNT: Policy = Policy {
    max_attempts: 5,
    window_ms: 15 * 60_000,
    base_lock_ms: 30_000,
    max_lock_ms: 15 * 60_000,
};

/// Per client IP: 20 failed sign-ins in 15 minutes (one address spraying many accounts).
pub const CLIENT_IP: Policy = Policy {
    max_attempts: 20,
    window_ms: 15 * 60_000,
    base_lock_ms: 60_000,
    max_lock_ms: 15 * 60_000,
};

/// Per client IP: 10 sign-ups an hour.
pub const SIGN_UPS: Policy = Policy {
    max_attempts: 10,
    window_ms: 60 * 60_000,
    base_lock_ms: 60 * 60_000,
    max_lock_ms: 6 * 60 * 60_000,
};

fn refused(until: i64, now: i64) -> AppError {
    AppError::RateLimited {
        retry_after_secs: ((until - now).max(1) as u64).div_ceil(1000),
    }
}

/// Reserves one attempt for `key`: `Ok` when it may be checked, `RateLimited` while the
/// key is locked or when this attempt is one too many (which locks it). When a lock ends,
/// one more attempt is allowed; if that one is wasted too, the next lock is twice as long.
pub async fn reserve(db: &Db, key: &str, policy: Policy, now: i64) -> Result<(), AppError> {
    let (attempts, locked_until, locks): (i64, i64, i64) = sqlx::query_as(
        "INSERT INTO throttle (key, failures, window_start, locked_until, locks) VALUES ($1, 1, $2, 0, 0) \
         ON CONFLICT (key) DO UPDATE SET \
         failures = CASE WHEN throttle.locked_until > $2 THEN throttle.failures \
           WHEN $2 - throttle.window_start > $3 THEN 1 \
           WHEN throttle.locked_until > 0 THEN $4 \
           ELSE throttle.failures + 1 END, \
         locks = CASE WHEN throttle.locked_until <= $2 AND $2 - throttle.window_start > $3 THEN 0 \
           ELSE throttle.locks END, \
         window_start = CASE WHEN throttle.locked_until <= $2 AND $2 - throttle.window_start > $3 THEN $2 \
           ELSE throttle.window_start END, \
         locked_until = CASE WHEN throttle.locked_until > $2 THEN throttle.locked_until ELSE 0 END \
         RETURNING failures, locked_until, locks",
    )
    .bind(key)
    .bind(now)
    .bind(policy.window_ms)
    .bind(policy.max_attempts)
    .fetch_one(db)
    .await?;
    if locked_until > now {
        return Err(refused(locked_until, now));
    }
    if attempts <= policy.max_attempts {
        return Ok(());
    }
    let until = lock_until(policy, locks, now);
    sqlx::query(
        "UPDATE throttle SET locked_until = $1, locks = locks + 1 WHERE key = $2 AND locked_until < $1",
    )
    .bind(until)
    .bind(key)
    .execute(db)
    .await?;
    Err(refused(until, now))
}

/// Until when the key is locked after `locks` earlier locks in its window.
fn lock_until(policy: Policy, locks: i64, now: i64) -> i64 {
    let doublings = locks.clamp(0, 20) as u32;
    now + policy
        .base_lock_ms
        .saturating_mul(1 << doublings)
        .min(policy.max_lock_ms)
}

/// Forgets the attempts of `key` (after a success).
pub async fn clear(db: &Db, key: &str) -> Result<(), AppError> {
    sqlx::query("DELETE FROM throttle WHERE key = $1")
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}

/// Gives one reserved attempt back (a success where only failures count, as per address).
pub async fn release(db: &Db, key: &str) -> Result<(), AppError> {
    sqlx::query("UPDATE throttle SET failures = failures - 1 WHERE key = $1 AND failures > 0")
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lock_is_twice_the_last_up_to_a_cap() {
        let now = 1_000;
        assert_eq!(lock_until(ACCOUNT, 0, now), now + 30_000);
        assert_eq!(lock_until(ACCOUNT, 1, now), now + 60_000);
        assert_eq!(lock_until(ACCOUNT, 2, now), now + 120_000);
        assert_eq!(lock_until(ACCOUNT, 40, now), now + 15 * 60_000);
        assert_eq!(lock_until(SIGN_UPS, 0, now), now + 60 * 60_000);
    }
}
