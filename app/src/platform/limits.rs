//! Rate limits: GCRA (the generic cell rate algorithm, as `governor` and Redis-cell
//! implement it), one bucket per key and one per subscription, each with its own rate, time
//! passed in. A bucket is one number, its theoretical arrival time (TAT): a request passes
//! when `now ≥ TAT − τ`, and then moves the TAT on by one emission interval `T`. A refused
//! request changes nothing, so a client over its limit still gets the limit (no penalty box).
//! An idle bucket (TAT in the past) is the same as no bucket, so [`Limiter::sweep`] drops it.
//!
//! [`Limiter`] is the interface the decision core calls; today it holds buckets in this
//! process (each instance enforces the full limit on its own traffic); a shared backend (a
//! Redis script doing the same arithmetic) becomes another variant.

use std::collections::HashMap;
use std::sync::Mutex;

/// Whose requests a bucket counts (borrowed from the view: naming one allocates nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket<'a> {
    /// A key's own rate limit, by key id.
    Key(&'a str),
    /// A plan's rate limit, shared by a subscription's keys, by subscription id.
    Subscription(&'a str),
}

impl<'a> Bucket<'a> {
    fn parts(self) -> (usize, &'a str) {
        match self {
            Bucket::Key(id) => (0, id),
            Bucket::Subscription(id) => (1, id),
        }
    }
}

type Tats = HashMap<String, i64, foldhash::fast::RandomState>;

const NANOS_PER_MS: i64 = 1_000_000;

/// `limit` requests per `period_ms`, with up to `burst` more at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub limit: u32,
    pub period_ms: u64,
    pub burst: u32,
}

impl Rate {
    /// The emission interval `T`, in nanoseconds.
    fn interval(self) -> i64 {
        (self.period_ms as i64 * NANOS_PER_MS / i64::from(self.limit.max(1))).max(1)
    }

    /// The tolerance `τ`: `limit + burst` requests may come at once.
    fn tolerance(self) -> i64 {
        self.interval() * (i64::from(self.limit.max(1)) + i64::from(self.burst) - 1)
    }
}

/// The answer for one bucket: whether the request passes, and what the `RateLimit-*`
/// headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub limit: u32,
    /// Requests that would pass right now after this one.
    pub remaining: u32,
    /// Milliseconds until the bucket is full again.
    pub reset_ms: i64,
    /// When refused: milliseconds until a request would pass.
    pub retry_after_ms: Option<i64>,
}

/// One GCRA step: the bucket's new TAT (unchanged when refused) and the verdict.
pub fn gcra(tat: Option<i64>, rate: Rate, now_ns: i64) -> (Option<i64>, Verdict) {
    let (t, tau) = (rate.interval(), rate.tolerance());
    let tat_now = tat.unwrap_or(now_ns).max(now_ns);
    let allow_at = tat_now - tau;
    if now_ns < allow_at {
        let verdict = Verdict {
            allowed: false,
            limit: rate.limit,
            remaining: 0,
            reset_ms: ceil_ms(tat_now - now_ns),
            retry_after_ms: Some(ceil_ms(allow_at - now_ns)),
        };
        return (tat, verdict);
    }
    let next = tat_now + t;
    let remaining = ((now_ns + tau - next) / t + 1).clamp(0, i64::from(u32::MAX)) as u32;
    let verdict = Verdict {
        allowed: true,
        limit: rate.limit,
        remaining: if now_ns + tau >= next { remaining } else { 0 },
        reset_ms: ceil_ms(next - now_ns),
        retry_after_ms: None,
    };
    (Some(next), verdict)
}

fn ceil_ms(ns: i64) -> i64 {
    (ns.max(0) + NANOS_PER_MS - 1) / NANOS_PER_MS
}

const SHARDS: usize = 16;

/// The buckets of this process: per shard, the keys' and the subscriptions' TATs.
#[derive(Debug)]
pub struct LocalBuckets {
    shards: Vec<Mutex<[Tats; 2]>>,
}

impl Default for LocalBuckets {
    fn default() -> Self {
        LocalBuckets {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl LocalBuckets {
    /// The bucket's shard and its map (FNV-1a of the id: the same bucket always lands in
    /// the same shard).
    fn lock(&self, id: &str) -> std::sync::MutexGuard<'_, [Tats; 2]> {
        let mut fnv: u64 = 0xcbf2_9ce4_8422_2325;
        for b in id.bytes() {
            fnv = (fnv ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.shards[(fnv as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn check(&self, bucket: Bucket<'_>, rate: Rate, now_ns: i64) -> Verdict {
        let (kind, id) = bucket.parts();
        let mut shard = self.lock(id);
        let map = &mut shard[kind];
        // One lookup for a known bucket (its TAT moved on in place), a second only to add one.
        if let Some(slot) = map.get_mut(id) {
            let (tat, verdict) = gcra(Some(*slot), rate, now_ns);
            *slot = tat.unwrap_or(*slot);
            return verdict;
        }
        let (tat, verdict) = gcra(None, rate, now_ns);
        if let Some(tat) = tat.filter(|_| verdict.allowed) {
            map.insert(id.to_string(), tat);
        }
        verdict
    }

    fn refund(&self, bucket: Bucket<'_>, rate: Rate) {
        let (kind, id) = bucket.parts();
        if let Some(tat) = self.lock(id)[kind].get_mut(id) {
            *tat -= rate.interval();
        }
    }

    fn sweep(&self, now_ns: i64) -> usize {
        let mut kept = 0;
        for shard in &self.shards {
            let mut maps = shard.lock().unwrap_or_else(|e| e.into_inner());
            for map in maps.iter_mut() {
                map.retain(|_, tat| *tat > now_ns);
                kept += map.len();
            }
        }
        kept
    }
}

/// Where buckets live.
#[derive(Debug)]
pub enum Limiter {
    /// In this process: each instance enforces the limits on its own traffic.
    Local(LocalBuckets),
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter::Local(LocalBuckets::default())
    }
}

impl Limiter {
    /// Takes one request from `bucket` at `now_ms` (the app clock; sub-millisecond order
    /// comes from the arrival order).
    pub fn check(&self, bucket: Bucket<'_>, rate: Rate, now_ms: i64) -> Verdict {
        match self {
            Limiter::Local(b) => b.check(bucket, rate, now_ms * NANOS_PER_MS),
        }
    }

    /// Gives back the request last taken from `bucket` (a later check refused it).
    pub fn refund(&self, bucket: Bucket<'_>, rate: Rate) {
        match self {
            Limiter::Local(b) => b.refund(bucket, rate),
        }
    }

    /// Drops idle buckets (full again); returns how many are kept.
    pub fn sweep(&self, now_ms: i64) -> usize {
        match self {
            Limiter::Local(b) => b.sweep(now_ms * NANOS_PER_MS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000;

    fn per_second(limit: u32, burst: u32) -> Rate {
        Rate {
            limit,
            period_ms: SECOND,
            burst,
        }
    }

    #[test]
    fn a_full_bucket_passes_limit_plus_burst_at_once_then_refuses() {
        let l = Limiter::default();
        let rate = per_second(5, 2);
        let passed: Vec<bool> = (0..9)
            .map(|_| l.check(Bucket::Key("k"), rate, 1_000).allowed)
            .collect();
        assert_eq!(
            passed,
            [true, true, true, true, true, true, true, false, false]
        );
        let refused = l.check(Bucket::Key("k"), rate, 1_000);
        assert_eq!(refused.remaining, 0);
        // One emission interval (200 ms) later, one more passes.
        assert_eq!(refused.retry_after_ms, Some(200));
        assert!(!l.check(Bucket::Key("k"), rate, 1_199).allowed);
        assert!(l.check(Bucket::Key("k"), rate, 1_200).allowed);
    }

    #[test]
    fn remaining_and_reset_count_down() {
        let l = Limiter::default();
        let rate = per_second(4, 0);
        let first = l.check(Bucket::Key("k"), rate, 0);
        assert_eq!((first.limit, first.remaining, first.reset_ms), (4, 3, 250));
        let second = l.check(Bucket::Key("k"), rate, 0);
        assert_eq!((second.remaining, second.reset_ms), (2, 500));
        // After a second idle the bucket is full again: it is dropped by a sweep.
        assert_eq!(l.sweep(499), 1);
        assert_eq!(l.sweep(500), 0);
        assert_eq!(l.check(Bucket::Key("k"), rate, 500).remaining, 3);
    }

    /// Offered ten times a 100 requests/s limit, evenly, for 20 seconds: after the first
    /// second's full bucket, 100 ± 2 pass each second, and refused requests never hold the
    /// client back (no penalty box).
    #[test]
    fn ten_times_the_limit_offered_passes_the_limit_each_second() {
        let l = Limiter::default();
        let rate = per_second(100, 0);
        let mut per_second_passed = [0u32; 20];
        // 1,000 requests a second: one per millisecond.
        for ms in 0..20_000i64 {
            if l.check(Bucket::Key("k"), rate, ms).allowed {
                per_second_passed[(ms / 1_000) as usize] += 1;
            }
        }
        for (second, passed) in per_second_passed.iter().enumerate().skip(1) {
            assert!((98..=102).contains(passed), "second {second}: {passed}");
        }
        assert!(per_second_passed[0] <= 200, "{}", per_second_passed[0]);
    }

    #[test]
    fn buckets_and_rates_are_separate() {
        let l = Limiter::default();
        assert!(l.check(Bucket::Key("a"), per_second(1, 0), 0).allowed);
        assert!(!l.check(Bucket::Key("a"), per_second(1, 0), 0).allowed);
        assert!(l.check(Bucket::Key("b"), per_second(1, 0), 0).allowed);
        // A minute rate: 60 per minute is one a second after the first 60.
        let minute = Rate {
            limit: 60,
            period_ms: 60 * SECOND,
            burst: 0,
        };
        for _ in 0..60 {
            assert!(l.check(Bucket::Key("m"), minute, 0).allowed);
        }
        assert!(!l.check(Bucket::Key("m"), minute, 999).allowed);
        assert!(l.check(Bucket::Key("m"), minute, 1_000).allowed);
    }

    proptest::proptest! {
        /// On random arrival patterns, the limiter passes exactly the requests `governor`'s
        /// GCRA passes for the same quota (its burst is our limit + burst, replenished one per
        /// emission interval).
        #[test]
        fn it_agrees_with_governor(
            limit in 1u32..50,
            burst in 0u32..10,
            per_minute in proptest::bool::ANY,
            gaps in proptest::collection::vec(0u64..120, 1..400),
        ) {
            use governor::clock::FakeRelativeClock;
            use governor::{Quota, RateLimiter};
            use std::num::NonZeroU32;
            let period_ms = if per_minute { 60_000 } else { 1_000 };
            let rate = Rate { limit, period_ms, burst };
            let interval = std::time::Duration::from_nanos(rate.interval() as u64);
            let quota = Quota::with_period(interval)
                .unwrap()
                .allow_burst(NonZeroU32::new(limit + burst).unwrap());
            let clock = FakeRelativeClock::default();
            let theirs = RateLimiter::direct_with_clock(quota, clock.clone());
            let ours = Limiter::default();
            let mut now_ms = 0i64;
            for gap in gaps {
                // Arrivals in bursts: a gap of 0 is another request in the same instant.
                let step = gap * (period_ms / 100);
                now_ms += step as i64;
                clock.advance(std::time::Duration::from_millis(step));
                proptest::prop_assert_eq!(
                    ours.check(Bucket::Key("k"), rate, now_ms).allowed,
                    theirs.check().is_ok(),
                    "at {} ms", now_ms
                );
            }
        }
    }
}
